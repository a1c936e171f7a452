namespace Switchboard.Hosting;

/// <summary>
/// The loop the background workers share: wait until the stores are initialised, then run passes until
/// the host stops. A pass that meets an unavailable store (PostgreSQL down, SQLite locked past its busy
/// timeout) is logged and tried again after a back-off of 1 s doubling to 30 s; nothing it was doing
/// is lost, because each pass commits all or nothing.
/// </summary>
internal static class WorkerLoop
{
    public static async Task RunAsync(StoresReady ready, Func<CancellationToken, Task> passThenWait, Action<Exception> storeFailed, TimeProvider time, CancellationToken stopping)
    {
        try
        {
            await ready.WhenReady.WaitAsync(stopping).ConfigureAwait(false);
        }
        catch (OperationCanceledException)
        {
            return;
        }

        var errorDelay = TimeSpan.FromSeconds(1);
        while (!stopping.IsCancellationRequested)
        {
            try
            {
                await passThenWait(stopping).ConfigureAwait(false);
                errorDelay = TimeSpan.FromSeconds(1);
            }
            catch (OperationCanceledException) when (stopping.IsCancellationRequested)
            {
                return;
            }
            catch (Exception ex) when (ex is System.Data.Common.DbException or TimeoutException or IOException or System.Net.Sockets.SocketException or InvalidOperationException)
            {
                storeFailed(ex);
                try
                {
                    await Task.Delay(errorDelay, time, stopping).ConfigureAwait(false);
                }
                catch (OperationCanceledException)
                {
                    return;
                }

                errorDelay = TimeSpan.FromTicks(Math.Min(errorDelay.Ticks * 2, TimeSpan.FromSeconds(30).Ticks));
            }
        }
    }
}
