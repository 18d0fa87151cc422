import HandlerCommands

RedeployCommand.main()
