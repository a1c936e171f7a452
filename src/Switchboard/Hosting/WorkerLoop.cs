namespace Switchboard.Hosting;

/// <summary>
/// The loop the background workers share: wait until the stores are initialised, then run passes until
/// the host stops. A pass that fails (PostgreSQL down, SQLite locked past its busy timeout, or a bug) is
/// logged and tried again after a back-off of 1 s doubling to 30 s; nothing it was doing is lost,
/// because each pass commits all or nothing.
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
            catch (Exception ex) when (ex is not OutOfMemoryException)
            {
                // Any failure, not only an unavailable store: a worker that let an exception escape
                // would stop the host (BackgroundServiceExceptionBehavior.StopHost) and with it the
                // receiving of events. A failure that repeats is logged on every try, with back-off.
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
