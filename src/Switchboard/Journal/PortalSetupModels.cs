namespace Switchboard.Journal;

/// <summary>Where one install step of a portal stands.</summary>
public enum SetupStatus
{
    /// <summary>Not run yet, or not run because an earlier step failed.</summary>
    Pending,

    /// <summary>Done.</summary>
    Ok,

    /// <summary>Failed; <see cref="SetupStepRecord.Detail"/> says why.</summary>
    Failed,
}

/// <summary>The last outcome of one install step (verify, bind, lines, users) of a portal.</summary>
/// <param name="MemberId">The portal.</param>
/// <param name="Step">The step's name.</param>
/// <param name="Status">Ok, failed or pending.</param>
/// <param name="Detail">What was done, or why it failed, for the operator. Never a token.</param>
/// <param name="UpdatedAt">When this outcome was recorded.</param>
public sealed record SetupStepRecord(string MemberId, string Step, SetupStatus Status, string? Detail, DateTimeOffset UpdatedAt);

/// <summary>A portal user as loaded by <c>user.get</c>, with the PBX extension (<c>UF_PHONE_INNER</c>).</summary>
/// <param name="UserId">The Bitrix24 user id.</param>
/// <param name="Name">First and last name.</param>
/// <param name="Extension">The extension, or null when the user has none.</param>
/// <param name="Active">False for fired (deactivated) users.</param>
public sealed record PortalUserRecord(long UserId, string? Name, string? Extension, bool Active);
