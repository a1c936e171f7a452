using Switchboard.Cli;

return await SwitchboardCli.RunAsync(args).ConfigureAwait(false);
