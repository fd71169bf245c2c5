from journal.entry import main

main()
