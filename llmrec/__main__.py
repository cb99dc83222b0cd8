from llmrec.cli import main

main()
