import HandlerCommands

HealCommand.main()
