import CLI

HealCommand.main()
