import CLI

CriticalCommand.main()
