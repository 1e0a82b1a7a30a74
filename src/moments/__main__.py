from moments.cli import main

main()
