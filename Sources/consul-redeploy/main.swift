import CLI

RedeployCommand.main()
