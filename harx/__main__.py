from harx.cli.app import main

main()
