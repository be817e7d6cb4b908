from phenomena.cli import main

main()
