using Switchboard.Bitrix24.Events;
using Switchboard.Bitrix24.Tests.Support;
using Switchboard.Bitrix24.Wire;
using static Switchboard.Bitrix24.Tests.Support.FixtureBodies;
using static Switchboard.Bitrix24.Tests.Support.Php;

namespace Switchboard.Bitrix24.Tests.Events;

public sealed class Bitrix24EventReaderTests
{
    private static readonly FieldProblem[] NoProblems = [];

    private static DateTimeOffset Utc(int day, int hour, int minute, int second) => new(2026, 3, day, hour, minute, second, TimeSpan.Zero);

    private static object SeedAuthExpected() => new
    {
        AccessToken = SeedAccessToken,
        RefreshToken = SeedRefreshToken,
        ApplicationToken = SeedApplicationToken,
        ExpiresIn = (TimeSpan?)TimeSpan.FromHours(1),
        Expires = (DateTimeOffset?)null,
        Scope = new[] { "telephony" },
        Domain = "some-domain.bitrix24.com",
        ServerEndpoint = OAuthServerEndpoint,
        ClientEndpoint = "https://example.bitrix24.com/rest/",
        MemberId = "a223c6b9410f85df78e9377d6c4f7213",
        Status = (ApplicationStatus?)ApplicationStatus.Free,
        UserId = (long?)null,
        HasAccessToken = true,
    };

    private static object TelephonyAuthExpected() => new
    {
        AccessToken = TelAccessToken,
        RefreshToken = TelRefreshToken,
        ApplicationToken = TelApplicationToken,
        ExpiresIn = (TimeSpan?)TimeSpan.FromHours(1),
        Expires = (DateTimeOffset?)null,
        Scope = new[] { "telephony" },
        Domain = TestDomain,
        ServerEndpoint = OAuthServerEndpoint,
        ClientEndpoint = TestClientEndpoint,
        MemberId = TestMemberId,
        Status = (ApplicationStatus?)ApplicationStatus.Local,
        UserId = (long?)null,
        HasAccessToken = true,
    };

    [Fact]
    public void The_click_to_call_seed_reads_as_an_external_call_start_with_every_field_typed()
    {
        var ev = (ExternalCallStartEvent)EventBodies.ReadFixture("onexternalcallstart.seed");

        ev.ShouldHave(new
        {
            Name = "ONEXTERNALCALLSTART",
            HandlerId = (long?)1055,
            SentAt = (DateTimeOffset?)Utc(11, 13, 49, 48),
            EventId = (string?)null,
            Auth = SeedAuthExpected(),
            Problems = NoProblems,
            CallId = "externalCall.89350264e026dace3f2b14d1f438257c.1773236989",
            PhoneNumber = "+14155551234",
            PhoneNumberInternational = "+14155551234",
            Extension = "",
            UserId = (long?)1269,
            CallListId = (long?)null, // "0" means not from a call list
            LineNumber = "7",
            IsMobile = (bool?)false,
            ExternalCallId = "externalCall.89350264e026dace3f2b14d1f438257c.1773236989",
            CrmEntityType = (CrmEntityType?)CrmEntityType.Contact,
            CrmEntityId = (long?)797,
        });
        ev.CrmEntityType!.Value.IsKnown.Should().BeTrue();
    }

    [Fact]
    public void The_call_start_seed_reads_as_a_voximplant_call_start()
    {
        var ev = (VoximplantCallStartEvent)EventBodies.ReadFixture("onvoximplantcallstart.seed");

        ev.ShouldHave(new
        {
            Name = "ONVOXIMPLANTCALLSTART",
            HandlerId = (long?)1059,
            SentAt = (DateTimeOffset?)Utc(11, 14, 28, 46),
            EventId = (string?)null,
            Auth = SeedAuthExpected(),
            Problems = NoProblems,
            CallId = "externalCall.7b0c7de811455ef32b18dc5917e4306a.1773239327",
            VoximplantCallId = "externalCall.7b0c7de811455ef32b18dc5917e4306a.1773239327",
            UserId = (long?)1269,
        });
    }

    [Fact]
    public void A_callback_request_keeps_its_Cyrillic_text_and_has_no_call_id()
    {
        var ev = (ExternalCallBackStartEvent)EventBodies.ReadFixture("onexternalcallbackstart");

        ev.ShouldHave(new
        {
            Name = "ONEXTERNALCALLBACKSTART",
            HandlerId = (long?)1057,
            SentAt = (DateTimeOffset?)Utc(11, 13, 51, 40),
            EventId = (string?)null,
            Auth = TelephonyAuthExpected(),
            Problems = NoProblems,
            CallId = (string?)null,
            PhoneNumber = "+79161234567",
            Text = "Перезвоните мне, пожалуйста",
            Voice = "ruinternalfemale",
            CrmEntityType = (CrmEntityType?)CrmEntityType.Lead,
            CrmEntityId = (long?)4711,
            LineNumber = "7",
        });
    }

    [Fact]
    public void A_call_init_reads_its_call_type_as_an_enum_and_the_app_id_as_a_number()
    {
        var ev = (VoximplantCallInitEvent)EventBodies.ReadFixture("onvoximplantcallinit");

        ev.ShouldHave(new
        {
            Name = "ONVOXIMPLANTCALLINIT",
            HandlerId = (long?)1058,
            SentAt = (DateTimeOffset?)Utc(11, 14, 28, 40),
            EventId = (string?)null,
            Auth = TelephonyAuthExpected(),
            Problems = NoProblems,
            CallId = "externalCall.7b0c7de811455ef32b18dc5917e4306a.1773239327",
            VoximplantCallId = "externalCall.7b0c7de811455ef32b18dc5917e4306a.1773239327",
            CallType = (CallType?)CallType.Incoming,
            AccountSearchId = "sip1",
            PhoneNumber = "+74951234567",
            CallerId = "+14155550100",
            RestAppId = (long?)33,
        });
    }

    [Fact]
    public void A_cancelled_call_end_reads_603_S_zero_cost_and_the_start_date_with_its_offset()
    {
        var ev = (VoximplantCallEndEvent)EventBodies.ReadFixture("onvoximplantcallend.cancelled");

        ev.ShouldHave(new
        {
            Name = "ONVOXIMPLANTCALLEND",
            HandlerId = (long?)1061,
            SentAt = (DateTimeOffset?)Utc(11, 14, 33, 44),
            EventId = (string?)null,
            Auth = TelephonyAuthExpected(),
            Problems = NoProblems,
            CallId = "externalCall.89350264e026dace3f2b14d1f438257c.1773236989",
            VoximplantCallId = "externalCall.89350264e026dace3f2b14d1f438257c.1773236989",
            CallType = (CallType?)CallType.Outgoing,
            PhoneNumber = "+14155551234",
            PortalNumber = "REST_APP:33",
            PortalUserId = (long?)1269,
            CallDuration = (TimeSpan?)TimeSpan.Zero,
            CallStartDate = (DateTimeOffset?)new DateTimeOffset(2026, 3, 11, 17, 28, 46, TimeSpan.FromHours(3)),
            Cost = (decimal?)0m,
            CostCurrency = "",
            CallFailedCode = (CallStatusCode?)CallStatusCode.Cancelled,
            CallFailedReason = "Call canceled",
            CrmActivityId = (long?)8812,
        });

        // DateTimeOffset equality ignores the offset; the offset itself must survive.
        ev.CallStartDate!.Value.Offset.Should().Be(TimeSpan.FromHours(3));
        ev.CallStartDate.Value.DateTime.Should().Be(new DateTime(2026, 3, 11, 17, 28, 46, DateTimeKind.Unspecified));
        ev.CallFailedCode!.Value.Code.Should().Be("603-S");
        ev.CallFailedCode.Value.IsKnown.Should().BeTrue();
        ev.CallFailedCode.Value.IsSuccess.Should().BeFalse();
    }

    [Fact]
    public void A_call_end_with_code_OTHER_reads_cost_duration_and_currency()
    {
        var ev = (VoximplantCallEndEvent)EventBodies.ReadFixture("onvoximplantcallend.other");

        ev.ShouldHave(new
        {
            Name = "ONVOXIMPLANTCALLEND",
            HandlerId = (long?)1061,
            SentAt = (DateTimeOffset?)Utc(11, 14, 36, 0),
            EventId = (string?)null,
            Auth = TelephonyAuthExpected(),
            Problems = NoProblems,
            CallId = "externalCall.7b0c7de811455ef32b18dc5917e4306a.1773239327",
            VoximplantCallId = "externalCall.7b0c7de811455ef32b18dc5917e4306a.1773239327",
            CallType = (CallType?)CallType.Incoming,
            PhoneNumber = "+74951234567",
            PortalNumber = "sip1",
            PortalUserId = (long?)1270,
            CallDuration = (TimeSpan?)new TimeSpan(0, 2, 5),
            CallStartDate = (DateTimeOffset?)new DateTimeOffset(2026, 3, 11, 17, 28, 46, TimeSpan.FromHours(3)),
            Cost = (decimal?)1.25m,
            CostCurrency = "RUB",
            CallFailedCode = (CallStatusCode?)CallStatusCode.Other,
            CallFailedReason = "Undefined error",
            CrmActivityId = (long?)8813,
        });
        ev.CallStartDate!.Value.Offset.Should().Be(TimeSpan.FromHours(3));
        ev.CallFailedCode!.Value.Code.Should().Be("OTHER");
    }

    [Fact]
    public void An_install_reads_flags_as_booleans_and_the_full_auth_block_typed()
    {
        var ev = (AppInstallEvent)EventBodies.ReadFixture("onappinstall");

        ev.ShouldHave(new
        {
            Name = "ONAPPINSTALL",
            HandlerId = (long?)1001,
            SentAt = (DateTimeOffset?)Utc(11, 11, 53, 20),
            EventId = (string?)null,
            Auth = new
            {
                AccessToken = InstallAccessToken,
                RefreshToken = InstallRefreshToken,
                ApplicationToken = InstallApplicationToken,
                ExpiresIn = (TimeSpan?)TimeSpan.FromSeconds(3600),
                Expires = (DateTimeOffset?)Utc(11, 12, 53, 20),
                Scope = new[] { "crm", "telephony", "user", "placement" },
                Domain = TestDomain,
                ServerEndpoint = OAuthServerEndpoint,
                ClientEndpoint = TestClientEndpoint,
                MemberId = TestMemberId,
                Status = (ApplicationStatus?)ApplicationStatus.Local,
                UserId = (long?)1,
                HasAccessToken = true,
            },
            Problems = NoProblems,
            CallId = (string?)null,
            Version = "1",
            Active = (bool?)true,
            Installed = (bool?)true,
            LanguageId = "ru",
        });
    }

    [Fact]
    public void An_update_reads_both_versions_and_the_new_application_token()
    {
        var ev = (AppUpdateEvent)EventBodies.ReadFixture("onappupdate");

        ev.ShouldHave(new
        {
            Name = "ONAPPUPDATE",
            HandlerId = (long?)1002,
            SentAt = (DateTimeOffset?)Utc(11, 14, 40, 0),
            EventId = (string?)null,
            Auth = new
            {
                AccessToken = UpdateAccessToken,
                RefreshToken = UpdateRefreshToken,
                ApplicationToken = UpdateApplicationToken,
                ExpiresIn = (TimeSpan?)TimeSpan.FromSeconds(3600),
                Expires = (DateTimeOffset?)Utc(11, 15, 40, 0),
                Scope = new[] { "crm", "telephony", "user", "placement" },
                Domain = TestDomain,
                ServerEndpoint = OAuthServerEndpoint,
                ClientEndpoint = TestClientEndpoint,
                MemberId = TestMemberId,
                Status = (ApplicationStatus?)ApplicationStatus.Paid,
                UserId = (long?)1,
                HasAccessToken = true,
            },
            Problems = NoProblems,
            CallId = (string?)null,
            Version = "2",
            PreviousVersion = "1",
            LanguageId = "en",
        });
    }

    [Fact]
    public void An_uninstall_has_no_tokens_but_the_application_token_and_that_is_not_an_error()
    {
        var ev = (AppUninstallEvent)EventBodies.ReadFixture("onappuninstall");

        ev.ShouldHave(new
        {
            Name = "ONAPPUNINSTALL",
            HandlerId = (long?)1003,
            SentAt = (DateTimeOffset?)Utc(11, 17, 26, 40),
            EventId = (string?)null,
            Auth = new
            {
                AccessToken = (string?)null,
                RefreshToken = (string?)null,
                ApplicationToken = UninstallApplicationToken,
                ExpiresIn = (TimeSpan?)null,
                Expires = (DateTimeOffset?)null,
                Scope = Array.Empty<string>(),
                Domain = TestDomain,
                ServerEndpoint = OAuthServerEndpoint,
                ClientEndpoint = TestClientEndpoint,
                MemberId = TestMemberId,
                Status = (ApplicationStatus?)null,
                UserId = (long?)null,
                HasAccessToken = false,
            },
            Problems = NoProblems,
            CallId = (string?)null,
            Clean = (bool?)true,
            LanguageId = "de",
        });
    }

    [Fact]
    public void An_offline_event_notice_has_an_empty_data_block()
    {
        var ev = (OfflineEventNotice)EventBodies.ReadFixture("onofflineevent");

        ev.ShouldHave(new
        {
            Name = "ONOFFLINEEVENT",
            HandlerId = (long?)1004,
            SentAt = (DateTimeOffset?)Utc(11, 20, 13, 20),
            EventId = (string?)null,
            Auth = TelephonyAuthExpected(),
            Problems = NoProblems,
            CallId = (string?)null,
        });
        ev.Data.IsValue.Should().BeFalse();
        ev.Data.Children.Should().BeEmpty();
    }

    [Fact]
    public void An_unknown_event_is_kept_untyped_with_its_raw_data_reachable()
    {
        var ev = (UntypedEvent)EventBodies.ReadFixture("oncrmdealupdate");

        ev.ShouldHave(new
        {
            Name = "ONCRMDEALUPDATE",
            HandlerId = (long?)1100,
            SentAt = (DateTimeOffset?)Utc(11, 23, 0, 0),
            EventId = (string?)null,
            Auth = TelephonyAuthExpected(),
            Problems = NoProblems,
            CallId = (string?)null,
        });
        ev.Data["FIELDS"]!.GetString("ID").Should().Be("42");
    }

    [Fact]
    public void An_unknown_event_with_lists_keeps_them_in_its_raw_data()
    {
        var ev = (UntypedEvent)EventBodies.ReadFixture("odd.indexed-array");

        ev.Name.Should().Be("ONCRMCONTACTUPDATE");
        ev.Data["PHONE"]!.GetString("1").Should().Be("+1 415 555 0101");
        ev.Data["EMAIL"]!["0"]!.GetString("VALUE").Should().Be("a@example.com");
    }

    [Fact]
    public void An_unknown_event_that_names_a_call_exposes_its_call_id()
    {
        var ev = EventBodies.ReadFields(Map(("event", "ONVOXIMPLANTCALLTRANSFER"), ("data", Map(("CALL_ID", "c-1")))));

        ev.Should().BeOfType<UntypedEvent>().Which.CallId.Should().Be("c-1");
    }

    [Fact]
    public void An_event_triggered_by_a_robot_has_null_tokens_and_no_problems()
    {
        var ev = (VoximplantCallStartEvent)EventBodies.ReadFixture("odd.no-tokens");

        ev.Auth.AccessToken.Should().BeNull();
        ev.Auth.RefreshToken.Should().BeNull();
        ev.Auth.HasAccessToken.Should().BeFalse();
        ev.Auth.ExpiresIn.Should().BeNull();
        ev.Auth.ApplicationToken.Should().Be(TelApplicationToken);
        ev.Auth.MemberId.Should().Be(TestMemberId);
        ev.Problems.Should().BeEmpty();
        ev.UserId.Should().Be(1269);
    }

    [Fact]
    public void Empty_values_read_as_empty_text_or_as_null_never_as_problems()
    {
        var ev = (ExternalCallStartEvent)EventBodies.ReadFixture("odd.empty-values");

        ev.Extension.Should().Be(string.Empty);
        ev.PhoneNumberInternational.Should().Be(string.Empty);
        ev.LineNumber.Should().Be(string.Empty);
        ev.UserId.Should().BeNull();
        ev.CallListId.Should().BeNull();
        ev.IsMobile.Should().BeNull();
        ev.CrmEntityType.Should().BeNull();
        ev.CrmEntityId.Should().BeNull();
        ev.PhoneNumber.Should().Be("+14155551234");
        ev.Problems.Should().BeEmpty();
    }

    [Fact]
    public void Plus_and_spaces_in_values_and_a_mobile_flag_of_1_read_correctly()
    {
        var ev = (ExternalCallStartEvent)EventBodies.ReadFixture("odd.plus-and-spaces");

        ev.PhoneNumber.Should().Be("+7 (495) 123-45-67");
        ev.LineNumber.Should().Be("Main line + 2");
        ev.IsMobile.Should().BeTrue();
        ev.CallListId.Should().Be(15);
        ev.CrmEntityType.Should().Be(CrmEntityType.Company);
    }

    [Fact]
    public void Text_with_ampersand_and_equals_reads_whole()
    {
        var ev = (ExternalCallBackStartEvent)EventBodies.ReadFixture("odd.amp-and-equals");

        ev.Text.Should().Be("Tom & Jerry: a=1&b=2 ?x=y#top");
        ev.CrmEntityId.Should().Be(4712);
    }

    [Theory]
    [InlineData("onExternalCallStart", typeof(ExternalCallStartEvent), "ONEXTERNALCALLSTART")]
    [InlineData("OnExternalCallBackStart", typeof(ExternalCallBackStartEvent), "ONEXTERNALCALLBACKSTART")]
    [InlineData("onvoximplantcallinit", typeof(VoximplantCallInitEvent), "ONVOXIMPLANTCALLINIT")]
    [InlineData("onVoximplantCallStart", typeof(VoximplantCallStartEvent), "ONVOXIMPLANTCALLSTART")]
    [InlineData("onVoximplantCallEnd", typeof(VoximplantCallEndEvent), "ONVOXIMPLANTCALLEND")]
    [InlineData("onAppInstall", typeof(AppInstallEvent), "ONAPPINSTALL")]
    [InlineData("OnAppUpdate", typeof(AppUpdateEvent), "ONAPPUPDATE")]
    [InlineData("onappuninstall", typeof(AppUninstallEvent), "ONAPPUNINSTALL")]
    [InlineData("onOfflineEvent", typeof(OfflineEventNotice), "ONOFFLINEEVENT")]
    [InlineData("onCrmDealUpdate", typeof(UntypedEvent), "ONCRMDEALUPDATE")]
    [InlineData(" ONAPPINSTALL ", typeof(AppInstallEvent), "ONAPPINSTALL")]
    public void Event_names_match_case_insensitively_and_read_upper_case(string sent, Type expected, string name)
    {
        var ev = EventBodies.ReadFields(Map(("event", sent), ("data", Map(("CALL_ID", "c-1")))));

        ev.Should().BeOfType(expected);
        ev.Name.Should().Be(name);
    }

    [Fact]
    public void A_lower_case_click_to_call_still_reads_its_typed_fields()
    {
        var fields = FixtureBodies.Get("onexternalcallstart.seed");
        fields[0] = new("event", "onExternalCallStart");

        var ev = (ExternalCallStartEvent)EventBodies.ReadFields(fields);

        ev.UserId.Should().Be(1269);
        ev.CrmEntityId.Should().Be(797);
        ev.Auth.ApplicationToken.Should().Be(SeedApplicationToken);
    }

    [Theory]
    [InlineData("DEAL")]
    [InlineData("deal")]
    [InlineData(" Deal ")]
    public void An_undocumented_CRM_entity_type_is_kept_not_rejected(string sent)
    {
        var ev = (ExternalCallStartEvent)EventBodies.ReadFields(Map(
            ("event", "ONEXTERNALCALLSTART"),
            ("data", Map(("CRM_ENTITY_TYPE", sent), ("CRM_ENTITY_ID", "55")))));

        ev.CrmEntityType.Should().Be(new CrmEntityType("DEAL"));
        ev.CrmEntityType!.Value.IsKnown.Should().BeFalse();
        ev.CrmEntityId.Should().Be(55);
        ev.Problems.Should().BeEmpty();
    }

    [Theory]
    [InlineData("contact", "CONTACT")]
    [InlineData("Company", "COMPANY")]
    [InlineData("LEAD", "LEAD")]
    public void Documented_CRM_entity_types_read_as_known(string sent, string code)
    {
        var ev = (ExternalCallBackStartEvent)EventBodies.ReadFields(Map(
            ("event", "ONEXTERNALCALLBACKSTART"), ("data", Map(("CRM_ENTITY_TYPE", sent)))));

        ev.CrmEntityType!.Value.Code.Should().Be(code);
        ev.CrmEntityType.Value.IsKnown.Should().BeTrue();
    }

    [Theory]
    [InlineData("200", true, true)]
    [InlineData("304", true, false)]
    [InlineData("603", true, false)]
    [InlineData("603-s", true, false)]
    [InlineData("486", true, false)]
    [InlineData("other", true, false)]
    [InlineData("999", false, false)]
    [InlineData("BUSY-X", false, false)]
    public void Any_call_failed_code_is_kept_as_text(string sent, bool known, bool success)
    {
        var ev = (VoximplantCallEndEvent)EventBodies.ReadFields(Map(
            ("event", "ONVOXIMPLANTCALLEND"), ("data", Map(("CALL_FAILED_CODE", sent)))));

        ev.CallFailedCode!.Value.Code.Should().Be(sent.ToUpperInvariant());
        ev.CallFailedCode.Value.IsKnown.Should().Be(known);
        ev.CallFailedCode.Value.IsSuccess.Should().Be(success);
        ev.Problems.Should().BeEmpty();
    }

    [Theory]
    [InlineData("1", CallType.Outgoing)]
    [InlineData("2", CallType.Incoming)]
    [InlineData("3", CallType.IncomingWithRedirect)]
    [InlineData("4", CallType.Callback)]
    [InlineData("5", CallType.Informational)]
    [InlineData("9", (CallType)9)]
    public void Call_types_read_as_the_enum_and_an_unknown_number_is_kept(string sent, CallType expected)
    {
        var ev = (VoximplantCallInitEvent)EventBodies.ReadFields(Map(
            ("event", "ONVOXIMPLANTCALLINIT"), ("data", Map(("CALL_TYPE", sent)))));

        ev.CallType.Should().Be(expected);
    }

    [Theory]
    [InlineData("1", true)]
    [InlineData("0", false)]
    [InlineData("Y", true)]
    [InlineData("N", false)]
    public void The_mobile_flag_reads_0_1_and_the_old_N_Y(string sent, bool expected)
    {
        var ev = (ExternalCallStartEvent)EventBodies.ReadFields(Map(
            ("event", "ONEXTERNALCALLSTART"), ("data", Map(("IS_MOBILE", sent)))));

        ev.IsMobile.Should().Be(expected);
    }

    [Fact]
    public void A_malformed_number_reads_as_null_with_a_problem_and_the_event_is_kept()
    {
        var fields = FixtureBodies.Get("onexternalcallstart.seed");
        var data = (List<KeyValuePair<string, object?>>)fields[2].Value!;
        data[3] = new("USER_ID", "abc");

        var ev = (ExternalCallStartEvent)EventBodies.ReadFields(fields);

        ev.UserId.Should().BeNull();
        ev.Problems.Should().Equal(new FieldProblem("data[USER_ID]", "an integer"));
        ev.CrmEntityId.Should().Be(797, because: "the other fields still read");
        ev.CallId.Should().Be("externalCall.89350264e026dace3f2b14d1f438257c.1773236989");
    }

    [Theory]
    [InlineData("CALL_DURATION", "12s", "data[CALL_DURATION]", "an integer")]
    [InlineData("CALL_TYPE", "outgoing", "data[CALL_TYPE]", "an integer")]
    [InlineData("PORTAL_USER_ID", "1.5", "data[PORTAL_USER_ID]", "an integer")]
    [InlineData("CALL_START_DATE", "yesterday", "data[CALL_START_DATE]", "an ISO 8601 date and time")]
    [InlineData("COST", "free", "data[COST]", "a decimal number")]
    [InlineData("COST", "1,5", "data[COST]", "a decimal number")]
    [InlineData("CRM_ACTIVITY_ID", "99999999999999999999", "data[CRM_ACTIVITY_ID]", "an integer")]
    public void A_call_end_field_that_does_not_fit_its_type_is_a_problem_not_a_failure(string field, string sent, string wire, string expected)
    {
        var ev = EventBodies.ReadFields(Map(
            ("event", "ONVOXIMPLANTCALLEND"), ("data", Map(("CALL_ID", "c-1"), (field, sent)))));

        ev.Should().BeOfType<VoximplantCallEndEvent>().Which.CallId.Should().Be("c-1");
        ev.Problems.Should().Equal(new FieldProblem(wire, expected));
    }

    [Theory]
    [InlineData("CALL_DURATION", "99999999999999")]
    [InlineData("CALL_DURATION", "-9223372036854775808")]
    public void A_call_duration_too_large_for_a_TimeSpan_is_a_problem_not_a_crash(string field, string sent)
    {
        var ev = (VoximplantCallEndEvent)EventBodies.ReadFields(Map(
            ("event", "ONVOXIMPLANTCALLEND"), ("data", Map((field, sent)))));

        ev.CallDuration.Should().BeNull();
        ev.Problems.Should().Equal(new FieldProblem("data[CALL_DURATION]", "a number of seconds"));
    }

    [Fact]
    public void An_auth_lifetime_too_large_for_a_TimeSpan_is_a_problem_not_a_crash()
    {
        var ev = EventBodies.ReadFields(Map(
            ("event", "ONAPPINSTALL"), ("auth", Map(("expires_in", "99999999999999"), ("member_id", "m")))));

        ev.Auth.ExpiresIn.Should().BeNull();
        ev.Auth.MemberId.Should().Be("m");
        ev.Problems.Should().Equal(new FieldProblem("auth[expires_in]", "a number of seconds"));
    }

    [Fact]
    public void A_flag_that_is_neither_0_1_nor_N_Y_is_a_problem()
    {
        var ev = (AppInstallEvent)EventBodies.ReadFields(Map(
            ("event", "ONAPPINSTALL"), ("data", Map(("ACTIVE", "maybe"), ("INSTALLED", "Y")))));

        ev.Active.Should().BeNull();
        ev.Installed.Should().BeTrue();
        ev.Problems.Should().Equal(new FieldProblem("data[ACTIVE]", "a flag (0/1 or N/Y)"));
    }

    [Fact]
    public void Malformed_envelope_and_auth_numbers_are_problems_named_by_their_wire_key()
    {
        var ev = EventBodies.ReadFields(Map(
            ("event", "ONAPPINSTALL"),
            ("event_handler_id", "h1"),
            ("ts", "-5"),
            ("auth", Map(("expires", "later"), ("user_id", "admin"), ("member_id", "m")))));

        ev.HandlerId.Should().BeNull();
        ev.SentAt.Should().BeNull();
        ev.Auth.Expires.Should().BeNull();
        ev.Auth.UserId.Should().BeNull();
        ev.Problems.Should().BeEquivalentTo(
        [
            new FieldProblem("event_handler_id", "an integer"),
            new FieldProblem("ts", "a Unix time"),
            new FieldProblem("auth[expires]", "an integer"),
            new FieldProblem("auth[user_id]", "an integer"),
        ]);
    }

    [Fact]
    public void The_optional_event_id_is_read_when_present()
    {
        EventBodies.ReadFields(Map(("event", "ONAPPINSTALL"), ("event_id", "e-77"))).EventId.Should().Be("e-77");
    }

    [Fact]
    public void A_space_separated_scope_and_a_lower_case_or_unknown_status_are_read()
    {
        var ev = EventBodies.ReadFields(Map(
            ("event", "ONAPPINSTALL"), ("auth", Map(("scope", "crm telephony, user"), ("status", "x")))));

        ev.Auth.Scope.Should().Equal("crm", "telephony", "user");
        ev.Auth.Status.Should().Be(new ApplicationStatus("X"));
        ev.Auth.Status!.Value.IsKnown.Should().BeFalse();
    }

    [Fact]
    public void An_event_with_no_auth_and_no_data_reads_with_an_empty_auth()
    {
        var ev = EventBodies.ReadFields(Map(("event", "ONOFFLINEEVENT")));

        ev.Should().BeOfType<OfflineEventNotice>();
        ev.Auth.Should().BeEquivalentTo(EventAuth.Empty);
        ev.Auth.MemberId.Should().BeNull();
        ev.Data.Children.Should().BeEmpty();
        ev.HandlerId.Should().BeNull();
        ev.SentAt.Should().BeNull();
    }

    [Theory]
    [InlineData("data[CALL_ID]=1&auth[member_id]=m", "no 'event'")]
    [InlineData("event[name]=ONEXTERNALCALLSTART", "non-empty event code")]
    [InlineData("event[]=ONEXTERNALCALLSTART", "non-empty event code")]
    [InlineData("event=", "non-empty event code")]
    [InlineData("event=+++", "non-empty event code")]
    [InlineData("event=ONAPPINSTALL&auth=s3cr3tT0ken", "'auth' field must be a group")]
    [InlineData("event=ONAPPINSTALL&data=x", "'data' field must be a group")]
    [InlineData("event=ONAPPINSTALL%0Ainfo%3A+forged", "printable ASCII")]
    [InlineData("event=ONAPP%0DINSTALL", "printable ASCII")]
    [InlineData("event=X%1B%5B31m", "printable ASCII")]
    [InlineData("event=ON+APPINSTALL", "printable ASCII")]
    [InlineData("event=ON%C2%85APPINSTALL", "printable ASCII")]
    [InlineData("event=ON%E2%80%A8APPINSTALL", "printable ASCII")]
    [InlineData("event=%D0%A1%D0%9E%D0%91%D0%AB%D0%A2%D0%98%D0%95", "printable ASCII")]
    public void A_body_that_is_not_an_event_is_an_error(string body, string reason)
    {
        var parsed = PhpFormParser.Parse(body);
        parsed.Success.Should().BeTrue();

        var result = Bitrix24EventReader.Read(parsed.Root!);

        result.Success.Should().BeFalse();
        result.Event.Should().BeNull();
        result.Error.Should().Contain(reason).And.NotContain("s3cr3tT0ken");
    }

    [Theory]
    [InlineData("ONEXTERNALCALLSTART")]
    [InlineData("ONVOXIMPLANTCALLINIT")]
    [InlineData("ONVOXIMPLANTCALLSTART")]
    [InlineData("ONVOXIMPLANTCALLEND")]
    [InlineData("ONCRMSOMETHING")]
    public void A_CALL_ID_longer_than_256_characters_is_a_field_problem_and_reads_as_none(string name)
    {
        var longest = new string('a', Bitrix24Event.MaxCallIdLength);

        var kept = Bitrix24EventReader.Read(PhpFormParser.Parse($"event={name}&data%5BCALL_ID%5D={longest}").Root!).Event!;
        var tooLong = Bitrix24EventReader.Read(PhpFormParser.Parse($"event={name}&data%5BCALL_ID%5D={longest}b").Root!).Event!;

        kept.CallId.Should().Be(longest);
        tooLong.CallId.Should().BeNull();
        if (tooLong is not UntypedEvent)
        {
            tooLong.Problems.Should().ContainSingle(p => p.Field == "data[CALL_ID]");
        }
    }

    [Theory]
    [InlineData("+ONAPPINSTALL+", "ONAPPINSTALL")]
    [InlineData("ONCRMDYNAMICITEMADD_128", "ONCRMDYNAMICITEMADD_128")]
    [InlineData("onSome.Vendor-Event:1", "ONSOME.VENDOR-EVENT:1")]
    public void Any_printable_ASCII_event_code_is_read_trimmed_and_upper_case(string code, string expected)
    {
        var result = Bitrix24EventReader.Read(PhpFormParser.Parse("event=" + code).Root!);

        result.Success.Should().BeTrue(result.Error);
        result.Event!.Name.Should().Be(expected);
    }

    [Fact]
    public void The_JSON_seed_and_the_form_seed_read_as_equal_events()
    {
        var json = JsonEventBodyParser.Parse(File.ReadAllBytes(Path.Combine(Fixture.Folder, "onexternalcallstart.seed.parse_str.json")));
        var fromJson = (ExternalCallStartEvent)EventBodies.Read(json.Root!);
        var fromForm = (ExternalCallStartEvent)EventBodies.ReadFixture("onexternalcallstart.seed");

        fromJson.Should().BeEquivalentTo(fromForm, o => o.ComparingRecordsByMembers().Excluding(e => e.Data));
        fromJson.UserId.Should().Be(1269);
    }

    [Fact]
    public void Numbers_written_as_JSON_numbers_read_the_same_as_strings()
    {
        var json = JsonEventBodyParser.Parse("""
            {"event":"ONVOXIMPLANTCALLEND","event_handler_id":1061,"ts":1773239624,
             "data":{"CALL_TYPE":2,"CALL_DURATION":125,"COST":1.25,"PORTAL_USER_ID":1270}}
            """u8);

        var ev = (VoximplantCallEndEvent)EventBodies.Read(json.Root!);

        ev.HandlerId.Should().Be(1061);
        ev.SentAt.Should().Be(Utc(11, 14, 33, 44));
        ev.CallType.Should().Be(CallType.Incoming);
        ev.CallDuration.Should().Be(TimeSpan.FromSeconds(125));
        ev.Cost.Should().Be(1.25m);
        ev.PortalUserId.Should().Be(1270);
        ev.Problems.Should().BeEmpty();
    }
}
