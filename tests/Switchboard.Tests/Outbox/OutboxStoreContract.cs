using System.Collections.Concurrent;
using System.Data.Common;
using Switchboard.Outbox;

namespace Switchboard.Tests.Outbox;

/// <summary>
/// The outbox contract, one suite for both stores (RELIABILITY.md promise 2, once not twice, and
/// promise 7, faults delay work and never lose it). Every time is an explicit <c>now</c>: leases expire
/// because the test says so, not because it slept.
/// </summary>
public abstract class OutboxStoreContract : IAsyncLifetime
{
    protected static readonly DateTimeOffset T0 = new(2026, 11, 21, 12, 0, 0, TimeSpan.Zero);
    protected static readonly TimeSpan Lease = TimeSpan.FromSeconds(30);

    protected IOutboxStore Store { get; private set; } = null!;

    /// <summary>A new, empty store for one test.</summary>
    protected abstract Task<IOutboxStore> CreateStoreAsync();

    /// <summary>A second store object on the same database, with its own connections (another instance).</summary>
    protected abstract IOutboxStore OpenSameStore();

    /// <summary>A plain connection to the store's database, as the ledger would hold one.</summary>
    protected abstract Task<DbConnection> OpenConnectionAsync();

    public virtual async Task InitializeAsync()
    {
        Store = await CreateStoreAsync();
        await Store.InitializeAsync(CancellationToken.None);
    }

    public virtual async Task DisposeAsync() => await Store.DisposeAsync();

    protected static OutboxItem Item(string key, DateTimeOffset? at = null, DateTimeOffset? notBefore = null, string kind = "finish") =>
        new(kind, key, "m1", $$"""{"callId":"{{key}}"}""", at ?? T0, notBefore);

    protected static IReadOnlyList<OutboxItem> Items(int count, string prefix = "k") =>
        Enumerable.Range(0, count).Select(i => Item($"{prefix}{i:D4}")).ToList();

    [Fact]
    public async Task An_enqueued_item_reads_back_pending_with_every_field()
    {
        var added = await Store.EnqueueAsync([new OutboxItem("show", "show:call-1:7", "m1", """{"userId":7}""", T0)], default);

        added.Should().Be(1);
        var e = (await Store.ListAsync(null, 10, default)).Should().ContainSingle().Subject;
        e.Kind.Should().Be("show");
        e.Key.Should().Be("show:call-1:7");
        e.MemberId.Should().Be("m1");
        e.Payload.Should().Be("""{"userId":7}""");
        e.Status.Should().Be(OutboxStatus.Pending);
        e.Attempts.Should().Be(0);
        e.CreatedAt.Should().Be(T0);
        e.NextAttemptAt.Should().Be(T0);
        e.ClaimedBy.Should().BeNull();
        e.LeaseUntil.Should().BeNull();
        e.LastError.Should().BeNull();
        e.CompletedAt.Should().BeNull();
    }

    [Fact]
    public async Task Enqueueing_the_same_key_twice_keeps_one_item_and_counts_only_the_new_one()
    {
        (await Store.EnqueueAsync([Item("finish:a"), Item("finish:b")], default)).Should().Be(2);
        (await Store.EnqueueAsync([Item("finish:a"), Item("finish:c")], default)).Should().Be(1);
        (await Store.EnqueueAsync([Item("finish:d"), Item("finish:d")], default)).Should().Be(1);

        (await Store.ListAsync(null, 10, default)).Select(e => e.Key).Should().Equal("finish:a", "finish:b", "finish:c", "finish:d");
    }

    [Fact]
    public async Task A_completed_key_is_not_enqueued_again()
    {
        await Store.EnqueueAsync([Item("finish:a")], default);
        var claimed = await Store.ClaimAsync("w1", 10, Lease, T0, default);
        (await Store.CompleteAsync(claimed[0].Id, "w1", T0, default)).Should().BeTrue();

        (await Store.EnqueueAsync([Item("finish:a", at: T0.AddMinutes(5))], default)).Should().Be(0);

        (await Store.ClaimAsync("w1", 10, Lease, T0.AddMinutes(10), default)).Should().BeEmpty();
        var done = (await Store.ListAsync(OutboxStatus.Done, 10, default)).Should().ContainSingle().Subject;
        done.CompletedAt.Should().Be(T0);
        done.ClaimedBy.Should().Be("w1", "a done command keeps the worker that sent it, for the operator");
        done.LeaseUntil.Should().BeNull();
    }

    [Fact]
    public async Task Items_enqueued_in_a_callers_transaction_that_commits_are_kept()
    {
        await using var connection = await OpenConnectionAsync();
        await using (var tx = await connection.BeginTransactionAsync())
        {
            (await Store.EnqueueAsync(connection, tx, [Item("finish:a"), Item("finish:b")], default)).Should().Be(2);
            await tx.CommitAsync();
        }

        (await Store.ListAsync(OutboxStatus.Pending, 10, default)).Should().HaveCount(2);
    }

    [Fact]
    public async Task Items_enqueued_in_a_callers_transaction_that_is_rolled_back_are_not_enqueued()
    {
        await using var connection = await OpenConnectionAsync();
        await using (var tx = await connection.BeginTransactionAsync())
        {
            (await Store.EnqueueAsync(connection, tx, [Item("finish:a"), Item("finish:b")], default)).Should().Be(2);
            await tx.RollbackAsync();
        }

        (await Store.ListAsync(null, 10, default)).Should().BeEmpty();
        (await Store.ClaimAsync("w1", 10, Lease, T0.AddHours(1), default)).Should().BeEmpty();
        (await Store.EnqueueAsync([Item("finish:a")], default)).Should().Be(1, "the rolled-back key was never taken");
    }

    [Fact]
    public async Task A_claim_returns_only_due_items_oldest_first_and_no_more_than_max()
    {
        await Store.EnqueueAsync(
        [
            Item("later", notBefore: T0.AddMinutes(1)),
            Item("second", notBefore: T0.AddSeconds(-10)),
            Item("first", notBefore: T0.AddSeconds(-20)),
            Item("third"),
        ], default);

        // A lease longer than the test's clock runs, so only due pending items can come back.
        var lease = TimeSpan.FromHours(1);
        var claimed = await Store.ClaimAsync("w1", 2, lease, T0, default);

        claimed.Select(e => e.Key).Should().Equal("first", "second");
        claimed.Should().OnlyContain(e => e.Status == OutboxStatus.Claimed && e.ClaimedBy == "w1" && e.LeaseUntil == T0 + lease);
        (await Store.ClaimAsync("w1", 10, lease, T0, default)).Select(e => e.Key).Should().Equal("third");
        (await Store.ClaimAsync("w1", 10, lease, T0.AddSeconds(59), default)).Should().BeEmpty("'later' is not due yet");
        (await Store.ClaimAsync("w1", 10, lease, T0.AddMinutes(1), default)).Select(e => e.Key).Should().Equal("later");
    }

    [Fact]
    public async Task A_claim_for_some_kinds_merges_them_in_due_order_takes_their_expired_leases_and_leaves_other_kinds()
    {
        await Store.EnqueueAsync(
        [
            Item("a1", notBefore: T0.AddSeconds(-10), kind: "a"),
            Item("a2", notBefore: T0.AddSeconds(-5), kind: "a"),
            Item("b1", notBefore: T0.AddSeconds(-30), kind: "b"),
            Item("b2", notBefore: T0.AddSeconds(-20), kind: "b"),
            Item("c1", notBefore: T0.AddSeconds(-40), kind: "c"),
        ], default);

        // b's rows are due first although a is named first: the batch is the oldest across the kinds.
        (await Store.ClaimAsync("w1", 2, Lease, T0, default, ["a", "b"])).Select(e => e.Key).Should().Equal("b1", "b2");
        (await Store.ClaimAsync("w1", 3, Lease, T0, default, ["a", "b"])).Select(e => e.Key).Should().Equal("a1", "a2");

        // The leases of w1 ran out: a claim for b alone takes b's back, in due order, and none of a's.
        var later = T0 + Lease + TimeSpan.FromSeconds(1);
        (await Store.ClaimAsync("w2", 10, Lease, later, default, ["b"])).Select(e => e.Key).Should().Equal("b1", "b2");

        // c was never named: only a claim for any kind (or for c) takes it, with a's expired leases.
        (await Store.ClaimAsync("w3", 10, Lease, later, default)).Select(e => e.Key).Should().Equal("c1", "a1", "a2");
    }

    [Fact]
    public async Task A_claimed_item_is_not_claimed_again_until_its_lease_expires()
    {
        await Store.EnqueueAsync([Item("finish:a")], default);
        var first = await Store.ClaimAsync("w1", 10, Lease, T0, default);
        first.Should().ContainSingle();

        (await Store.ClaimAsync("w2", 10, Lease, T0, default)).Should().BeEmpty();
        (await Store.ClaimAsync("w2", 10, Lease, T0 + Lease - TimeSpan.FromMilliseconds(1), default)).Should().BeEmpty();

        var second = await Store.ClaimAsync("w2", 10, Lease, T0 + Lease, default);
        second.Should().ContainSingle().Which.Id.Should().Be(first[0].Id);
        second[0].ClaimedBy.Should().Be("w2");
        second[0].LeaseUntil.Should().Be(T0 + Lease + Lease);
    }

    [Fact]
    public async Task After_its_lease_expired_and_another_worker_claimed_the_item_the_first_workers_complete_and_fail_are_refused()
    {
        await Store.EnqueueAsync([Item("finish:a")], default);
        var id = (await Store.ClaimAsync("w1", 10, Lease, T0, default))[0].Id;
        (await Store.ClaimAsync("w2", 10, Lease, T0 + Lease + Lease, default)).Should().ContainSingle();

        (await Store.CompleteAsync(id, "w1", T0.AddMinutes(2), default)).Should().BeFalse();
        (await Store.FailAsync(id, "w1", "timeout", T0.AddMinutes(3), 5, default)).Should().Be(FailOutcome.NotClaimed);

        var e = (await Store.ListAsync(null, 10, default)).Single();
        e.Status.Should().Be(OutboxStatus.Claimed);
        e.ClaimedBy.Should().Be("w2");
        e.Attempts.Should().Be(0);
        (await Store.CompleteAsync(id, "w2", T0.AddMinutes(2), default)).Should().BeTrue();
        (await Store.CompleteAsync(id, "w2", T0.AddMinutes(2), default)).Should().BeFalse("it is done already");
    }

    [Fact]
    public async Task A_worker_whose_lease_expired_may_still_complete_while_no_one_else_has_claimed_the_item()
    {
        await Store.EnqueueAsync([Item("finish:a")], default);
        var id = (await Store.ClaimAsync("w1", 10, Lease, T0, default))[0].Id;

        (await Store.CompleteAsync(id, "w1", T0 + Lease + Lease, default)).Should().BeTrue();

        (await Store.ClaimAsync("w2", 10, Lease, T0.AddHours(1), default)).Should().BeEmpty();
    }

    [Fact]
    public async Task Pruning_deletes_only_done_items_completed_before_the_cut_off()
    {
        await Store.EnqueueAsync([Item("finish:old"), Item("finish:new"), Item("finish:open")], default);
        var claimed = await Store.ClaimAsync("w1", 2, Lease, T0, default);
        (await Store.CompleteAsync(claimed.Single(e => e.Key == "finish:old").Id, "w1", T0, default)).Should().BeTrue();
        (await Store.CompleteAsync(claimed.Single(e => e.Key == "finish:new").Id, "w1", T0.AddDays(10), default)).Should().BeTrue();

        (await Store.PruneDoneAsync(T0.AddDays(1), 100, default)).Should().Be(1);

        (await Store.ListAsync(null, 10, default)).Select(e => e.Key).Should().BeEquivalentTo("finish:new", "finish:open");
    }

    [Fact]
    public async Task A_retry_from_the_dead_letter_list_starts_its_claims_and_attempts_again()
    {
        await Store.EnqueueAsync([Item("finish:a")], default);
        var id = (await Store.ClaimAsync("w1", 10, Lease, T0, default)).Single().Id;
        (await Store.FailAsync(id, "w1", "boom", T0, 1, default)).Should().Be(FailOutcome.Dead);

        (await Store.RetryAsync(id, T0.AddMinutes(1), default)).Should().BeTrue();

        var e = (await Store.ListAsync(OutboxStatus.Pending, 10, default)).Single();
        (e.Attempts, e.Claims).Should().Be((0, 0));
    }

    [Fact]
    public async Task Every_claim_is_counted_also_one_whose_lease_ran_out()
    {
        await Store.EnqueueAsync([Item("finish:a")], default);
        (await Store.ClaimAsync("w1", 10, Lease, T0, default)).Single().Claims.Should().Be(1);
        var again = (await Store.ClaimAsync("w2", 10, Lease, T0 + Lease, default)).Single();

        again.Claims.Should().Be(2);
        again.Attempts.Should().Be(0, "a lease that ran out is not a failed attempt");
    }

    [Fact]
    public async Task A_deferred_item_goes_back_to_pending_at_its_time_without_counting_an_attempt()
    {
        await Store.EnqueueAsync([Item("finish:a")], default);
        var id = (await Store.ClaimAsync("w1", 10, Lease, T0, default))[0].Id;

        (await Store.DeferAsync(id, "w2", "not mine", T0.AddMinutes(1), default)).Should().BeFalse("only the holder may defer");
        (await Store.DeferAsync(id, "w1", "Switchboard:Bitrix24:ClientId is not set", T0.AddMinutes(1), default)).Should().BeTrue();

        var e = (await Store.ListAsync(OutboxStatus.Pending, 10, default)).Should().ContainSingle().Subject;
        e.Attempts.Should().Be(0);
        e.NextAttemptAt.Should().Be(T0.AddMinutes(1));
        e.LastError.Should().Be("Switchboard:Bitrix24:ClientId is not set");
        e.ClaimedBy.Should().BeNull();
        e.Claims.Should().Be(0, "a deferral gives its claim back");
        (await Store.ClaimAsync("w1", 10, Lease, T0.AddSeconds(59), default)).Should().BeEmpty();
        (await Store.ClaimAsync("w1", 10, Lease, T0.AddMinutes(1), default)).Should().ContainSingle();
    }

    [Fact]
    public async Task A_failed_item_goes_back_to_pending_with_its_backoff_time_one_more_attempt_and_the_error()
    {
        await Store.EnqueueAsync([Item("finish:a")], default);
        var id = (await Store.ClaimAsync("w1", 10, Lease, T0, default))[0].Id;

        (await Store.FailAsync(id, "w1", "503 QUERY_LIMIT_EXCEEDED", T0.AddSeconds(20), 5, default)).Should().Be(FailOutcome.WillRetry);

        var e = (await Store.ListAsync(OutboxStatus.Pending, 10, default)).Should().ContainSingle().Subject;
        e.Attempts.Should().Be(1);
        e.NextAttemptAt.Should().Be(T0.AddSeconds(20));
        e.LastError.Should().Be("503 QUERY_LIMIT_EXCEEDED");
        e.ClaimedBy.Should().BeNull();
        e.LeaseUntil.Should().BeNull();
        (await Store.ClaimAsync("w1", 10, Lease, T0.AddSeconds(19), default)).Should().BeEmpty("the back-off has not passed");
        var again = await Store.ClaimAsync("w1", 10, Lease, T0.AddSeconds(20), default);
        again.Should().ContainSingle().Which.Attempts.Should().Be(1);
        (await Store.CompleteAsync(id, "w1", T0.AddSeconds(21), default)).Should().BeTrue();
    }

    [Fact]
    public async Task After_the_maximum_attempts_an_item_is_dead_listed_and_a_retry_makes_it_pending_again()
    {
        // "finish:b" is due only in an hour, out of the way of the attempts on "finish:a".
        await Store.EnqueueAsync([Item("finish:a"), Item("finish:b", notBefore: T0.AddHours(1))], default);
        var now = T0;
        long id = 0;
        for (var attempt = 1; attempt <= 3; attempt++)
        {
            var claimed = await Store.ClaimAsync("w1", 1, Lease, now, default);
            claimed.Should().ContainSingle().Which.Key.Should().Be("finish:a");
            id = claimed[0].Id;
            var next = now.AddSeconds(10 * attempt);
            (await Store.FailAsync(id, "w1", $"500 attempt {attempt}", next, 3, default))
                .Should().Be(attempt < 3 ? FailOutcome.WillRetry : FailOutcome.Dead);
            now = next;
        }

        var dead = (await Store.ListAsync(OutboxStatus.Dead, 10, default)).Should().ContainSingle().Subject;
        dead.Id.Should().Be(id);
        dead.Attempts.Should().Be(3);
        dead.LastError.Should().Be("500 attempt 3");
        var b = await Store.ClaimAsync("w1", 10, Lease, T0.AddDays(1), default);
        b.Select(e => e.Key).Should().Equal("finish:b");
        (await Store.CompleteAsync(b[0].Id, "w1", T0.AddDays(1), default)).Should().BeTrue();

        (await Store.RetryAsync(id, T0.AddDays(2), default)).Should().BeTrue();
        (await Store.RetryAsync(id, T0.AddDays(2), default)).Should().BeFalse("it is no longer dead");

        var revived = (await Store.ListAsync(OutboxStatus.Pending, 10, default)).Should().ContainSingle().Subject;
        revived.Id.Should().Be(id);
        revived.Attempts.Should().Be(0);
        revived.NextAttemptAt.Should().Be(T0.AddDays(2));
        (await Store.ClaimAsync("w1", 10, Lease, T0.AddDays(2), default)).Should().ContainSingle().Which.Id.Should().Be(id);
    }

    [Fact]
    public async Task Retrying_all_dead_revives_only_the_dead_items()
    {
        await Store.EnqueueAsync([Item("a"), Item("b"), Item("c")], default);
        var claimed = await Store.ClaimAsync("w1", 2, Lease, T0, default);
        foreach (var e in claimed)
        {
            (await Store.FailAsync(e.Id, "w1", "400 bad", T0.AddSeconds(1), 1, default)).Should().Be(FailOutcome.Dead);
        }

        (await Store.ListAsync(OutboxStatus.Dead, 10, default)).Should().HaveCount(2);

        (await Store.RetryAllDeadAsync(T0.AddMinutes(1), default)).Should().Be(2);

        (await Store.ListAsync(OutboxStatus.Dead, 10, default)).Should().BeEmpty();
        (await Store.ListAsync(OutboxStatus.Pending, 10, default)).Should().HaveCount(3).And.OnlyContain(e => e.Attempts == 0);
        (await Store.RetryAllDeadAsync(T0.AddMinutes(1), default)).Should().Be(0);
    }

    [Fact]
    public async Task A_long_error_is_cut_to_a_bounded_length()
    {
        await Store.EnqueueAsync([Item("a")], default);
        var id = (await Store.ClaimAsync("w1", 1, Lease, T0, default))[0].Id;

        await Store.FailAsync(id, "w1", new string('x', 10_000), T0, 5, default);

        (await Store.ListAsync(null, 1, default))[0].LastError!.Length.Should().Be(2000);
    }

    [Fact]
    public async Task Listing_respects_the_limit_and_the_status_filter()
    {
        await Store.EnqueueAsync(Items(5), default);
        await Store.ClaimAsync("w1", 2, Lease, T0, default);

        (await Store.ListAsync(null, 3, default)).Should().HaveCount(3);
        (await Store.ListAsync(OutboxStatus.Claimed, 10, default)).Select(e => e.Key).Should().Equal("k0000", "k0001");
        (await Store.ListAsync(OutboxStatus.Pending, 10, default)).Should().HaveCount(3);
        (await Store.ListAsync(OutboxStatus.Done, 10, default)).Should().BeEmpty();
    }

    [Fact]
    public async Task Initializing_an_existing_outbox_again_keeps_its_items()
    {
        await Store.EnqueueAsync(Items(3), default);
        await using var again = OpenSameStore();

        await again.InitializeAsync(default);

        (await again.ListAsync(null, 10, default)).Should().HaveCount(3);
    }

    [Fact]
    public async Task Four_store_instances_claiming_concurrently_complete_each_of_1000_items_exactly_once()
    {
        var stores = Enumerable.Range(0, 4).Select(_ => OpenSameStore()).ToList();
        try
        {
            await ClaimEverythingConcurrentlyAsync(stores.Select((s, i) => (s, $"instance-{i}")).ToList());
        }
        finally
        {
            foreach (var s in stores)
            {
                await s.DisposeAsync();
            }
        }
    }

    /// <summary>
    /// Enqueues 1,000 items, runs one claimer per entry (each on its own thread) claiming batches and
    /// completing them until a claim comes back empty, and checks every item was claimed once,
    /// completed once and is done.
    /// </summary>
    protected async Task ClaimEverythingConcurrentlyAsync(IReadOnlyList<(IOutboxStore Store, string WorkerId)> claimers)
    {
        ArgumentNullException.ThrowIfNull(claimers);
        const int total = 1000;
        (await Store.EnqueueAsync(Items(total, "bulk-"), default)).Should().Be(total);
        var claims = new ConcurrentDictionary<long, int>();
        var completions = new ConcurrentDictionary<long, int>();
        var refused = 0;

        await Task.WhenAll(claimers.Select(c => Task.Run(async () =>
        {
            while (true)
            {
                // Same now for everyone, long lease: nothing expires, so a second claim of an id is a bug.
                var batch = await c.Store.ClaimAsync(c.WorkerId, 7, TimeSpan.FromMinutes(5), T0, default);
                if (batch.Count == 0)
                {
                    return;
                }

                foreach (var e in batch)
                {
                    claims.AddOrUpdate(e.Id, 1, (_, n) => n + 1);
                    if (await c.Store.CompleteAsync(e.Id, c.WorkerId, T0, default))
                    {
                        completions.AddOrUpdate(e.Id, 1, (_, n) => n + 1);
                    }
                    else
                    {
                        Interlocked.Increment(ref refused);
                    }
                }
            }
        })));

        refused.Should().Be(0);
        claims.Should().HaveCount(total).And.OnlyContain(kv => kv.Value == 1);
        completions.Should().HaveCount(total).And.OnlyContain(kv => kv.Value == 1);
        (await Store.ListAsync(OutboxStatus.Done, total + 1, default)).Should().HaveCount(total);
        (await Store.ListAsync(OutboxStatus.Pending, 1, default)).Should().BeEmpty();
        (await Store.ListAsync(OutboxStatus.Claimed, 1, default)).Should().BeEmpty();
    }
}
