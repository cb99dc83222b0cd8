"""$LLMREC_HOME: prepared data and run folders under one folder, wherever llmrec runs."""

import os
import subprocess
import sys


def llmrec(*args, cwd, env):
    return subprocess.run([sys.executable, "-m", "llmrec", *args], cwd=cwd, capture_output=True, text=True,
                          timeout=600, env=env)


def test_llmrec_home_holds_the_data_and_the_runs_and_report_reads_them_there(tmp_path):
    home, elsewhere = tmp_path / "home", tmp_path / "work"
    elsewhere.mkdir()
    env = {k: v for k, v in os.environ.items() if k not in ("LLMREC_DATA_DIR", "LLMREC_HOME")}
    env["LLMREC_HOME"] = str(home)
    done = llmrec("bench", "--model", "popularity", "--task", "direct", "--limit", "20", cwd=elsewhere, env=env)
    assert done.returncode == 0, done.stderr
    assert f"results: {home / 'results' / 'runs'}" in done.stderr
    assert (home / "data" / "prepared").is_dir() and not any(elsewhere.iterdir())  # nothing scattered here
    report = llmrec("report", cwd=elsewhere, env=env)
    assert report.returncode == 0 and "popularity" in report.stdout
