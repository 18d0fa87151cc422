import HandlerCommands

JenkinsCommand.main()
