namespace Switchboard.Tests.Infrastructure;

/// <summary>Starts several store instances on one database at the same moment, as instances of Switchboard do.</summary>
public static class Concurrently
{
    /// <summary>Opens <paramref name="count"/> instances, initialises them all at once, then disposes them.</summary>
    public static async Task InitializeAsync<T>(int count, Func<T> open, Func<T, Task> initialize)
        where T : IAsyncDisposable
    {
        var stores = Enumerable.Range(0, count).Select(_ => open()).ToList();
        try
        {
            await Task.WhenAll(stores.Select(initialize));
        }
        finally
        {
            foreach (var s in stores)
            {
                await s.DisposeAsync();
            }
        }
    }
}
