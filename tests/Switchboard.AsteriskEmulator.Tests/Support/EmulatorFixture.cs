namespace Switchboard.AsteriskEmulator.Tests.Support;

/// <summary>Starts an emulator on a free port with a fast clock and a temporary recordings folder.</summary>
public static class Emulators
{
    public static async Task<EmulatedAsterisk> StartAsync(double speed = 20, Action<AsteriskEmulatorOptions>? configure = null, Xunit.Abstractions.ITestOutputHelper? output = null)
    {
        var options = new AsteriskEmulatorOptions
        {
            Port = 0,
            Speed = speed,
            AuthFailureDelay = TimeSpan.FromMilliseconds(50),
            RecordingDirectory = Path.Combine(Path.GetTempPath(), "sb-ast-emu-tests", Guid.NewGuid().ToString("N")),
            RecordingCloseDelay = TimeSpan.FromMilliseconds(20),
        };
        configure?.Invoke(options);
        var emulator = new EmulatedAsterisk(options, null, new TestLogger<EmulatedAsterisk>(output));
        await emulator.StartAsync();
        return emulator;
    }
}
