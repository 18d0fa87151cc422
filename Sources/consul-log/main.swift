import HandlerCommands

LogCommand.main()
