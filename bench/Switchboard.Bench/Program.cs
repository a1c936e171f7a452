using Switchboard.Bench;

return await BenchCommands.Root().Parse(args).InvokeAsync().ConfigureAwait(false);
