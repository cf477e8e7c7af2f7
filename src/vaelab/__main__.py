from vaelab.cli import main

main()
