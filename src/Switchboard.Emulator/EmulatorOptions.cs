namespace Switchboard.Emulator;

/// <summary>How the emulated portal looks and behaves. Every default matches a documented cloud value.</summary>
public sealed class EmulatorOptions
{
    /// <summary>Configuration section for hosts that bind it.</summary>
    public const string SectionName = "Emulator";

    /// <summary>Loopback URL to listen on; port 0 picks a free port (see <see cref="PortalEmulator.BaseAddress"/>).</summary>
    public string Url { get; set; } = "http://127.0.0.1:0";

    /// <summary>The portal's stable id (<c>member_id</c>).</summary>
    public string MemberId { get; set; } = "a223c6b9410f85df78e9377d6c4f7213";

    /// <summary>The portal host sent as <c>auth[domain]</c>; null = the bound host:port, so it matches client_endpoint.</summary>
    public string? Domain { get; set; }

    /// <summary>The shared secret sent as <c>auth[application_token]</c> with every event.</summary>
    public string ApplicationToken { get; set; } = "51610fefc120afg4b628cc82d6298cce";

    /// <summary>OAuth client id of the installed application.</summary>
    public string ClientId { get; set; } = "local.6650a8b0c1d2e3.12345678";

    /// <summary>OAuth client secret of the installed application.</summary>
    public string ClientSecret { get; set; } = "emulatorSecretEmulatorSecretEmulatorSecret00";

    /// <summary>Application status letter (L local, F free, D demo, T trial, P paid, S subscription).</summary>
    public string AppStatus { get; set; } = "L";

    /// <summary>Application version reported by app.info and ONAPPINSTALL.</summary>
    public string AppVersion { get; set; } = "1";

    /// <summary>Scopes granted to the application (comma list on the wire).</summary>
    public string Scope { get; set; } = "telephony,user,crm";

    /// <summary>Access-token lifetime. EN-docs settings/oauth/auto-renewal.md: 1 hour.</summary>
    public TimeSpan AccessTokenLifetime { get; set; } = TimeSpan.FromHours(1);

    /// <summary>Leaky bucket drain per second. EN-docs limits.md: Y = 2/s (Enterprise 5/s).</summary>
    public double RateLimitDrainPerSecond { get; set; } = 2;

    /// <summary>Leaky bucket size. EN-docs limits.md: X = 50 (Enterprise 250).</summary>
    public int RateLimitBurst { get; set; } = 50;

    /// <summary>Operating-time budget per method per 10 minutes. limits.md / helpdesk 15961972: 480 s.</summary>
    public TimeSpan OperatingLimit { get; set; } = TimeSpan.FromSeconds(480);

    /// <summary>
    /// How long a minute's operating time counts against the budget. limits.md / helpdesk 15961972:
    /// 10 minutes; tests shorten it to see a blocked method unblock.
    /// </summary>
    public TimeSpan OperatingWindow { get; set; } = TimeSpan.FromMinutes(10);

    /// <summary>
    /// How much operating time one call of a method costs. The emulator does no real work, so the
    /// cost is declared rather than measured; tests raise it to reach the budget quickly.
    /// </summary>
    public TimeSpan OperatingCostPerCall { get; set; } = TimeSpan.FromMilliseconds(10);

    /// <summary>
    /// Send ONVOXIMPLANTCALLINIT after a REST register creates a call and ONVOXIMPLANTCALLEND after a
    /// REST finish, as the portal does (REFERENCE §5.3/§5.5: they fire for calls made through
    /// telephony.externalCall.register/finish; FIELD-LESSONS: "they echo our own actions").
    /// Delivered from a queue after the REST answer, never on the request path.
    /// </summary>
    public bool EchoCallEvents { get; set; } = true;

    /// <summary>The portal's users (the installer is the first admin among them).</summary>
    public IList<EmulatedUser> Users { get; init; } =
    [
        new() { Id = 1, Name = "Anna", LastName = "Admin", Email = "admin@example.test", IsAdmin = true, PhoneInner = "100" },
        new() { Id = 2, Name = "Boris", LastName = "Operator", Email = "boris@example.test", PhoneInner = "101" },
        new() { Id = 3, Name = "Clara", LastName = "Operator", Email = "clara@example.test", PhoneInner = "102" },
    ];

    /// <summary>CRM entities known by phone number (for register and searchCrmEntities).</summary>
    public IList<CrmEntity> Crm { get; init; } =
    [
        new() { Type = "CONTACT", Id = 797, Name = "John Customer", Phone = "+14155551234", AssignedById = 2 },
    ];
}

/// <summary>A portal user.</summary>
public sealed record EmulatedUser
{
    /// <summary>User id.</summary>
    public long Id { get; init; }
    /// <summary>First name.</summary>
    public string Name { get; init; } = "";
    /// <summary>Last name.</summary>
    public string LastName { get; init; } = "";
    /// <summary>E-mail.</summary>
    public string Email { get; init; } = "";
    /// <summary>Active employee.</summary>
    public bool Active { get; init; } = true;
    /// <summary>Portal administrator.</summary>
    public bool IsAdmin { get; init; }
    /// <summary><c>UF_PHONE_INNER</c>: the extension.</summary>
    public string? PhoneInner { get; init; }
}

/// <summary>A CRM contact, company or lead with one phone number.</summary>
public sealed record CrmEntity
{
    /// <summary>CONTACT, COMPANY or LEAD.</summary>
    public string Type { get; init; } = "CONTACT";
    /// <summary>Entity id.</summary>
    public long Id { get; init; }
    /// <summary>Display name.</summary>
    public string Name { get; init; } = "";
    /// <summary>Phone number as stored.</summary>
    public string Phone { get; init; } = "";
    /// <summary>Responsible user.</summary>
    public long AssignedById { get; init; }
}
