import CLI

JenkinsCommand.main()
