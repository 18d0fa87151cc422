import CLI

LogCommand.main()
