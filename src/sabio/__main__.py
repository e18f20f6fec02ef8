from sabio.cli import main

main()
