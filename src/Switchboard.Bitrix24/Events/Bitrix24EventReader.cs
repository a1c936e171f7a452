using System.Diagnostics.CodeAnalysis;
using System.Globalization;
using Switchboard.Bitrix24.Wire;

namespace Switchboard.Bitrix24.Events;

/// <summary>A typed event, or why the body is not an event at all.</summary>
public readonly record struct EventReadResult(Bitrix24Event? Event, string? Error)
{
    /// <summary>True when <see cref="Event"/> is set.</summary>
    [MemberNotNullWhen(true, nameof(Event))]
    [MemberNotNullWhen(false, nameof(Error))]
    public bool Success => Event is not null;
}

/// <summary>
/// Maps a decoded body to a typed event. Bitrix24's field names appear here and nowhere else.
/// </summary>
/// <remarks>
/// Tolerant by design: the body shape changed without notice before (event_handler_id added,
/// server_endpoint dropped; b24-rest-docs #55), so only <c>event</c> is required. A field whose text
/// does not fit its documented type reads as null and is listed in <see cref="Bitrix24Event.Problems"/>;
/// the event itself is kept, because Bitrix24 never sends it again.
/// </remarks>
public static class Bitrix24EventReader
{
    /// <summary>Reads the envelope and the typed <c>data</c> fields.</summary>
    public static EventReadResult Read(FormNode root)
    {
        ArgumentNullException.ThrowIfNull(root);
        var eventNode = root["event"];
        if (eventNode is null)
        {
            return new(null, "The body has no 'event' field.");
        }

        if (!eventNode.IsValue || string.IsNullOrWhiteSpace(eventNode.Value))
        {
            return new(null, "The 'event' field must be a non-empty event code.");
        }

        // Event codes are letters, digits and underscores (ONEXTERNALCALLSTART, ONCRMDYNAMICITEMADD_128).
        // Any printable ASCII is let through, so an unknown event is still kept; a space inside, a control
        // character or non-ASCII text is not an event code. The name reaches log lines before the sender is
        // verified, so this is also what keeps a forged line out of them.
        if (eventNode.Value.AsSpan().Trim().ContainsAnyExceptInRange('\u0021', '\u007e'))
        {
            return new(null, "The 'event' field must be an event code: printable ASCII, like ONEXTERNALCALLSTART.");
        }

        var authNode = root["auth"];
        if (authNode is { IsValue: true, Value.Length: > 0 })
        {
            return new(null, "The 'auth' field must be a group of fields (auth[member_id], auth[application_token], …).");
        }

        var dataNode = root["data"];
        if (dataNode is { IsValue: true, Value.Length: > 0 })
        {
            return new(null, "The 'data' field must be a group of fields (data[CALL_ID], …).");
        }

        var f = new Fields(dataNode is { IsValue: false } ? dataNode : FormNode.EmptyMap, "data");
        var auth = ReadAuth(authNode is { IsValue: false } ? authNode : FormNode.EmptyMap, f);
        var top = new Fields(root, null);
        var name = EventNames.Normalize(eventNode.Value);
        var data = f.Node;

        Bitrix24Event ev = name switch
        {
            EventNames.ExternalCallStart => new ExternalCallStartEvent
            {
                Name = name, Auth = auth, Data = data,
                PhoneNumber = f.Text("PHONE_NUMBER"),
                PhoneNumberInternational = f.Text("PHONE_NUMBER_INTERNATIONAL"),
                Extension = f.Text("EXTENSION"),
                UserId = f.Long("USER_ID"),
                CallListId = f.Long("CALL_LIST_ID") is { } list and not 0 ? list : null,
                LineNumber = f.Text("LINE_NUMBER"),
                IsMobile = f.Bool("IS_MOBILE"),
                ExternalCallId = f.CallId(),
                CrmEntityType = CrmEntityType.From(f.Text("CRM_ENTITY_TYPE")),
                CrmEntityId = f.Long("CRM_ENTITY_ID"),
            },
            EventNames.ExternalCallBackStart => new ExternalCallBackStartEvent
            {
                Name = name, Auth = auth, Data = data,
                PhoneNumber = f.Text("PHONE_NUMBER"),
                Text = f.Text("TEXT"),
                Voice = f.Text("VOICE"),
                CrmEntityType = CrmEntityType.From(f.Text("CRM_ENTITY_TYPE")),
                CrmEntityId = f.Long("CRM_ENTITY_ID"),
                LineNumber = f.Text("LINE_NUMBER"),
            },
            EventNames.VoximplantCallInit => new VoximplantCallInitEvent
            {
                Name = name, Auth = auth, Data = data,
                VoximplantCallId = f.CallId(),
                CallType = f.CallType("CALL_TYPE"),
                AccountSearchId = f.Text("ACCOUNT_SEARCH_ID"),
                PhoneNumber = f.Text("PHONE_NUMBER"),
                CallerId = f.Text("CALLER_ID"),
                RestAppId = f.Long("REST_APP_ID"),
            },
            EventNames.VoximplantCallStart => new VoximplantCallStartEvent
            {
                Name = name, Auth = auth, Data = data,
                VoximplantCallId = f.CallId(),
                UserId = f.Long("USER_ID"),
            },
            EventNames.VoximplantCallEnd => new VoximplantCallEndEvent
            {
                Name = name, Auth = auth, Data = data,
                VoximplantCallId = f.CallId(),
                CallType = f.CallType("CALL_TYPE"),
                PhoneNumber = f.Text("PHONE_NUMBER"),
                PortalNumber = f.Text("PORTAL_NUMBER"),
                PortalUserId = f.Long("PORTAL_USER_ID"),
                CallDuration = f.Seconds("CALL_DURATION"),
                CallStartDate = f.Time("CALL_START_DATE"),
                Cost = f.Decimal("COST"),
                CostCurrency = f.Text("COST_CURRENCY"),
                CallFailedCode = CallStatusCode.From(f.Text("CALL_FAILED_CODE")),
                CallFailedReason = f.Text("CALL_FAILED_REASON"),
                CrmActivityId = f.Long("CRM_ACTIVITY_ID"),
            },
            EventNames.AppInstall => new AppInstallEvent
            {
                Name = name, Auth = auth, Data = data,
                Version = f.Text("VERSION"),
                Active = f.Bool("ACTIVE"),
                Installed = f.Bool("INSTALLED"),
                LanguageId = f.Text("LANGUAGE_ID"),
            },
            EventNames.AppUpdate => new AppUpdateEvent
            {
                Name = name, Auth = auth, Data = data,
                Version = f.Text("VERSION"),
                PreviousVersion = f.Text("PREVIOUS_VERSION"),
                LanguageId = f.Text("LANGUAGE_ID"),
            },
            EventNames.AppUninstall => new AppUninstallEvent
            {
                Name = name, Auth = auth, Data = data,
                Clean = f.Bool("CLEAN"),
                LanguageId = f.Text("LANGUAGE_ID"),
            },
            EventNames.OfflineEvent => new OfflineEventNotice { Name = name, Auth = auth, Data = data },
            _ => new UntypedEvent { Name = name, Auth = auth, Data = data },
        };

        // One copy of the record for the top-level fields and the problems (each `with` is a copy; an
        // event is read for every request, so allocation here is per event). No problems, no list.
        var handlerId = top.Long("event_handler_id");
        var sentAt = top.UnixTime("ts");
        var eventId = top.Text("event_id");
        IReadOnlyList<FieldProblem> problems = top.Problems.Length + f.Problems.Length == 0 ? [] : [.. top.Problems, .. f.Problems];
        return new(ev with { HandlerId = handlerId, SentAt = sentAt, EventId = eventId, Problems = problems }, null);
    }

    private static EventAuth ReadAuth(FormNode node, Fields data)
    {
        var a = new Fields(node, "auth");
        var auth = new EventAuth
        {
            AccessToken = a.Text("access_token"),
            RefreshToken = a.Text("refresh_token"),
            ApplicationToken = a.Text("application_token"),
            ExpiresIn = a.Seconds("expires_in"),
            Expires = a.UnixTime("expires"),
            Scope = a.Text("scope") is { } scope
                ? scope.Split([',', ' '], StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries)
                : [],
            Domain = a.Text("domain"),
            ServerEndpoint = a.Text("server_endpoint"),
            ClientEndpoint = a.Text("client_endpoint"),
            MemberId = a.Text("member_id"),
            Status = ApplicationStatus.From(a.Text("status")),
            UserId = a.Long("user_id"),
        };
        foreach (var problem in a.Problems)
        {
            data.Add(problem);
        }

        return auth;
    }

    /// <summary>Reads typed values from one block, collecting the ones that do not fit.</summary>
    private sealed class Fields(FormNode node, string? prefix)
    {
        public FormNode Node { get; } = node;

        // Created at the first problem: most events have none.
        private List<FieldProblem>? _problems;

        public ReadOnlySpan<FieldProblem> Problems => System.Runtime.InteropServices.CollectionsMarshal.AsSpan(_problems);

        public void Add(FieldProblem problem) => (_problems ??= []).Add(problem);

        /// <summary>The text, or null when absent. An empty string stays empty: EXTENSION="" is information.</summary>
        public string? Text(string key) => Node[key] is { IsValue: true } n ? n.Value : null;

        // Longer than any CALL_ID Bitrix24 makes: a field problem (kept in the journal, read as none).
        public string? CallId()
        {
            var text = Text("CALL_ID");
            if (text is { Length: > Bitrix24Event.MaxCallIdLength })
            {
                Add(new FieldProblem(prefix is null ? "CALL_ID" : $"{prefix}[CALL_ID]", $"a call id of at most {Bitrix24Event.MaxCallIdLength} characters"));
                return null;
            }

            return text;
        }

        public long? Long(string key)
        {
            var text = Text(key);
            if (string.IsNullOrWhiteSpace(text))
            {
                return null;
            }

            if (long.TryParse(text.Trim(), NumberStyles.AllowLeadingSign, CultureInfo.InvariantCulture, out var value))
            {
                return value;
            }

            return Problem<long>(key, "an integer");
        }

        /// <summary>Whole seconds as a TimeSpan; a count TimeSpan cannot hold is a problem, not an exception.</summary>
        public TimeSpan? Seconds(string key)
        {
            var seconds = Long(key);
            if (seconds is null)
            {
                return null;
            }

            if (seconds > (long)TimeSpan.MaxValue.TotalSeconds || seconds < (long)TimeSpan.MinValue.TotalSeconds)
            {
                return Problem<TimeSpan>(key, "a number of seconds");
            }

            return TimeSpan.FromSeconds(seconds.Value);
        }

        public decimal? Decimal(string key)
        {
            var text = Text(key);
            if (string.IsNullOrWhiteSpace(text))
            {
                return null;
            }

            // NumberStyles.Float, not Number: Number allows thousands separators, so a decimal comma
            // ("1,5") read as 15. PHP prints floats with '.' and no grouping, so a comma is a problem.
            if (decimal.TryParse(text.Trim(), NumberStyles.Float, CultureInfo.InvariantCulture, out var value))
            {
                return value;
            }

            return Problem<decimal>(key, "a decimal number");
        }

        /// <summary>"1"/"Y"/"true" and "0"/"N"/"false": IS_MOBILE is documented as 0/1 and was Y/N in the old docs.</summary>
        public bool? Bool(string key)
        {
            var text = Text(key)?.Trim();
            if (string.IsNullOrEmpty(text))
            {
                return null;
            }

            if (text is "1" or "Y" or "y" || text.Equals("true", StringComparison.OrdinalIgnoreCase))
            {
                return true;
            }

            if (text is "0" or "N" or "n" || text.Equals("false", StringComparison.OrdinalIgnoreCase))
            {
                return false;
            }

            return Problem<bool>(key, "a flag (0/1 or N/Y)");
        }

        public CallType? CallType(string key) => Long(key) is { } n and >= int.MinValue and <= int.MaxValue ? (CallType)(int)n : null;

        public DateTimeOffset? UnixTime(string key)
        {
            var seconds = Long(key);
            if (seconds is null)
            {
                return null;
            }

            if (seconds < 0 || seconds > 253_402_300_799)
            {
                return Problem<DateTimeOffset>(key, "a Unix time");
            }

            return DateTimeOffset.FromUnixTimeSeconds(seconds.Value);
        }

        /// <summary>ISO 8601. A time with no offset is read as UTC, never as this server's zone.</summary>
        public DateTimeOffset? Time(string key)
        {
            var text = Text(key);
            if (string.IsNullOrWhiteSpace(text))
            {
                return null;
            }

            if (DateTimeOffset.TryParse(text.Trim(), CultureInfo.InvariantCulture, DateTimeStyles.AssumeUniversal, out var value))
            {
                return value;
            }

            return Problem<DateTimeOffset>(key, "an ISO 8601 date and time");
        }

        private T? Problem<T>(string key, string expected)
            where T : struct
        {
            Add(new FieldProblem(prefix is null ? key : $"{prefix}[{key}]", expected));
            return null;
        }
    }
}
