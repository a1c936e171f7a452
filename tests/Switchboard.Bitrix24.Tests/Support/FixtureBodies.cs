using static Switchboard.Bitrix24.Tests.Support.Php;

namespace Switchboard.Bitrix24.Tests.Support;

/// <summary>
/// The same structures make-fixtures.php hands to http_build_query, built in C#. The encoder parity
/// tests encode these and compare with the PHP-made files byte for byte; the typed-event tests read
/// their expected values from the constants here.
/// </summary>
internal static class FixtureBodies
{
    // The seeds' auth block (/work/shared/seeds).
    public const string SeedAccessToken = "s7p6eclrvim9da28dt9ch94ekreb52sv";
    public const string SeedRefreshToken = "4s386p3q0tr8dy89xvmt96234v3dljg8";
    public const string SeedApplicationToken = "51610fefc120afg4b628cc82d6298cce";

    // The telephony auth block of the other fixtures.
    public const string TelAccessToken = "tel-access-0b1c2d3e4f5a6b7c8d9e";
    public const string TelRefreshToken = "tel-refresh-1a2b3c4d5e6f7a8b9c0d";
    public const string TelApplicationToken = "tel-apptoken-9f8e7d6c5b4a3f2e1d0c";
    public const string TestMemberId = "b334d7ca521f96ef89fa488d7d508324";
    public const string TestDomain = "switchboard-test.bitrix24.com";
    public const string TestClientEndpoint = "https://switchboard-test.bitrix24.com/rest/";
    public const string OAuthServerEndpoint = "https://oauth.bitrix.info/rest/";

    public const string InstallAccessToken = "install-access-5e6f7a8b9c0d1e2f3a4b";
    public const string InstallRefreshToken = "install-refresh-6f7a8b9c0d1e2f3a4b5c";
    public const string InstallApplicationToken = "install-apptoken-7a8b9c0d1e2f3a4b5c6d";
    public const string UpdateAccessToken = "update-access-8b9c0d1e2f3a4b5c6d7e";
    public const string UpdateRefreshToken = "update-refresh-9c0d1e2f3a4b5c6d7e8f";
    public const string UpdateApplicationToken = "update-apptoken-0d1e2f3a4b5c6d7e8f9a";
    public const string UninstallApplicationToken = "uninstall-apptoken-1e2f3a4b5c6d7e8f9a0b";

    /// <summary>Every token string any fixture carries; none may ever appear in a ToString().</summary>
    public static readonly string[] AllTokens =
    [
        SeedAccessToken, SeedRefreshToken, SeedApplicationToken,
        TelAccessToken, TelRefreshToken, TelApplicationToken,
        InstallAccessToken, InstallRefreshToken, InstallApplicationToken,
        UpdateAccessToken, UpdateRefreshToken, UpdateApplicationToken,
        UninstallApplicationToken,
    ];

    public static List<KeyValuePair<string, object?>> SeedAuth() => Map(
        ("access_token", SeedAccessToken),
        ("expires_in", "3600"),
        ("scope", "telephony"),
        ("domain", "some-domain.bitrix24.com"),
        ("server_endpoint", OAuthServerEndpoint),
        ("status", "F"),
        ("client_endpoint", "https://example.bitrix24.com/rest/"),
        ("member_id", "a223c6b9410f85df78e9377d6c4f7213"),
        ("refresh_token", SeedRefreshToken),
        ("application_token", SeedApplicationToken));

    public static List<KeyValuePair<string, object?>> TelephonyAuth() => Map(
        ("access_token", TelAccessToken),
        ("expires_in", "3600"),
        ("scope", "telephony"),
        ("domain", TestDomain),
        ("server_endpoint", OAuthServerEndpoint),
        ("status", "L"),
        ("client_endpoint", TestClientEndpoint),
        ("member_id", TestMemberId),
        ("refresh_token", TelRefreshToken),
        ("application_token", TelApplicationToken));

    public static List<KeyValuePair<string, object?>> Get(string name) => name switch
    {
        "onexternalcallstart.seed" => Map(
            ("event", "ONEXTERNALCALLSTART"),
            ("event_handler_id", "1055"),
            ("data", Map(
                ("PHONE_NUMBER", "+14155551234"),
                ("PHONE_NUMBER_INTERNATIONAL", "+14155551234"),
                ("EXTENSION", ""),
                ("USER_ID", "1269"),
                ("CALL_LIST_ID", "0"),
                ("LINE_NUMBER", "7"),
                ("IS_MOBILE", "0"),
                ("CALL_ID", "externalCall.89350264e026dace3f2b14d1f438257c.1773236989"),
                ("CRM_ENTITY_TYPE", "CONTACT"),
                ("CRM_ENTITY_ID", "797"))),
            ("ts", "1773236988"),
            ("auth", SeedAuth())),

        "onvoximplantcallstart.seed" => Map(
            ("event", "ONVOXIMPLANTCALLSTART"),
            ("event_handler_id", "1059"),
            ("data", Map(
                ("CALL_ID", "externalCall.7b0c7de811455ef32b18dc5917e4306a.1773239327"),
                ("USER_ID", "1269"))),
            ("ts", "1773239326"),
            ("auth", SeedAuth())),

        "onexternalcallbackstart" => Map(
            ("event", "ONEXTERNALCALLBACKSTART"),
            ("event_handler_id", "1057"),
            ("data", Map(
                ("PHONE_NUMBER", "+79161234567"),
                ("TEXT", "Перезвоните мне, пожалуйста"),
                ("VOICE", "ruinternalfemale"),
                ("CRM_ENTITY_TYPE", "LEAD"),
                ("CRM_ENTITY_ID", "4711"),
                ("LINE_NUMBER", "7"))),
            ("ts", "1773237100"),
            ("auth", TelephonyAuth())),

        "onvoximplantcallinit" => Map(
            ("event", "ONVOXIMPLANTCALLINIT"),
            ("event_handler_id", "1058"),
            ("data", Map(
                ("CALL_ID", "externalCall.7b0c7de811455ef32b18dc5917e4306a.1773239327"),
                ("CALL_TYPE", "2"),
                ("ACCOUNT_SEARCH_ID", "sip1"),
                ("PHONE_NUMBER", "+74951234567"),
                ("CALLER_ID", "+14155550100"),
                ("REST_APP_ID", "33"))),
            ("ts", "1773239320"),
            ("auth", TelephonyAuth())),

        "onvoximplantcallend.cancelled" => Map(
            ("event", "ONVOXIMPLANTCALLEND"),
            ("event_handler_id", "1061"),
            ("data", Map(
                ("CALL_ID", "externalCall.89350264e026dace3f2b14d1f438257c.1773236989"),
                ("CALL_TYPE", "1"),
                ("PHONE_NUMBER", "+14155551234"),
                ("PORTAL_NUMBER", "REST_APP:33"),
                ("PORTAL_USER_ID", "1269"),
                ("CALL_DURATION", "0"),
                ("CALL_START_DATE", "2026-03-11T17:28:46+03:00"),
                ("COST", "0.0000"),
                ("COST_CURRENCY", ""),
                ("CALL_FAILED_CODE", "603-S"),
                ("CALL_FAILED_REASON", "Call canceled"),
                ("CRM_ACTIVITY_ID", "8812"))),
            ("ts", "1773239624"),
            ("auth", TelephonyAuth())),

        "onvoximplantcallend.other" => Map(
            ("event", "ONVOXIMPLANTCALLEND"),
            ("event_handler_id", "1061"),
            ("data", Map(
                ("CALL_ID", "externalCall.7b0c7de811455ef32b18dc5917e4306a.1773239327"),
                ("CALL_TYPE", "2"),
                ("PHONE_NUMBER", "+74951234567"),
                ("PORTAL_NUMBER", "sip1"),
                ("PORTAL_USER_ID", "1270"),
                ("CALL_DURATION", "125"),
                ("CALL_START_DATE", "2026-03-11T17:28:46+03:00"),
                ("COST", "1.2500"),
                ("COST_CURRENCY", "RUB"),
                ("CALL_FAILED_CODE", "OTHER"),
                ("CALL_FAILED_REASON", "Undefined error"),
                ("CRM_ACTIVITY_ID", "8813"))),
            ("ts", "1773239760"),
            ("auth", TelephonyAuth())),

        "onappinstall" => Map(
            ("event", "ONAPPINSTALL"),
            ("event_handler_id", "1001"),
            ("data", Map(
                ("VERSION", "1"),
                ("ACTIVE", "Y"),
                ("INSTALLED", "Y"),
                ("LANGUAGE_ID", "ru"))),
            ("ts", "1773230000"),
            ("auth", Map(
                ("access_token", InstallAccessToken),
                ("expires", "1773233600"),
                ("expires_in", "3600"),
                ("scope", "crm,telephony,user,placement"),
                ("domain", TestDomain),
                ("server_endpoint", OAuthServerEndpoint),
                ("status", "L"),
                ("client_endpoint", TestClientEndpoint),
                ("member_id", TestMemberId),
                ("user_id", "1"),
                ("refresh_token", InstallRefreshToken),
                ("application_token", InstallApplicationToken)))),

        "onappupdate" => Map(
            ("event", "ONAPPUPDATE"),
            ("event_handler_id", "1002"),
            ("data", Map(
                ("VERSION", "2"),
                ("PREVIOUS_VERSION", "1"),
                ("LANGUAGE_ID", "en"))),
            ("ts", "1773240000"),
            ("auth", Map(
                ("access_token", UpdateAccessToken),
                ("expires", "1773243600"),
                ("expires_in", "3600"),
                ("scope", "crm,telephony,user,placement"),
                ("domain", TestDomain),
                ("server_endpoint", OAuthServerEndpoint),
                ("status", "P"),
                ("client_endpoint", TestClientEndpoint),
                ("member_id", TestMemberId),
                ("user_id", "1"),
                ("refresh_token", UpdateRefreshToken),
                ("application_token", UpdateApplicationToken)))),

        "onappuninstall" => Map(
            ("event", "ONAPPUNINSTALL"),
            ("event_handler_id", "1003"),
            ("data", Map(
                ("CLEAN", "1"),
                ("LANGUAGE_ID", "de"))),
            ("ts", "1773250000"),
            ("auth", Map(
                ("domain", TestDomain),
                ("server_endpoint", OAuthServerEndpoint),
                ("client_endpoint", TestClientEndpoint),
                ("member_id", TestMemberId),
                ("application_token", UninstallApplicationToken)))),

        "onofflineevent" => Map(
            ("event", "ONOFFLINEEVENT"),
            ("event_handler_id", "1004"),
            ("data", Map()),
            ("ts", "1773260000"),
            ("auth", TelephonyAuth())),

        "oncrmdealupdate" => Map(
            ("event", "ONCRMDEALUPDATE"),
            ("event_handler_id", "1100"),
            ("data", Map(("FIELDS", Map(("ID", "42"))))),
            ("ts", "1773270000"),
            ("auth", TelephonyAuth())),

        "odd.plus-and-spaces" => Map(
            ("event", "ONEXTERNALCALLSTART"),
            ("event_handler_id", "1055"),
            ("data", Map(
                ("PHONE_NUMBER", "+7 (495) 123-45-67"),
                ("PHONE_NUMBER_INTERNATIONAL", "+74951234567"),
                ("EXTENSION", ""),
                ("USER_ID", "1269"),
                ("CALL_LIST_ID", "15"),
                ("LINE_NUMBER", "Main line + 2"),
                ("IS_MOBILE", "1"),
                ("CALL_ID", "externalCall.0123456789abcdef0123456789abcdef.1773280000"),
                ("CRM_ENTITY_TYPE", "COMPANY"),
                ("CRM_ENTITY_ID", "12"))),
            ("ts", "1773280000"),
            ("auth", TelephonyAuth())),

        "odd.empty-values" => Map(
            ("event", "ONEXTERNALCALLSTART"),
            ("event_handler_id", "1055"),
            ("data", Map(
                ("PHONE_NUMBER", "+14155551234"),
                ("PHONE_NUMBER_INTERNATIONAL", ""),
                ("EXTENSION", ""),
                ("USER_ID", ""),
                ("CALL_LIST_ID", ""),
                ("LINE_NUMBER", ""),
                ("IS_MOBILE", ""),
                ("CALL_ID", "externalCall.fedcba9876543210fedcba9876543210.1773280100"),
                ("CRM_ENTITY_TYPE", ""),
                ("CRM_ENTITY_ID", ""))),
            ("ts", "1773280100"),
            ("auth", TelephonyAuth())),

        "odd.no-tokens" => Map(
            ("event", "ONVOXIMPLANTCALLSTART"),
            ("event_handler_id", "1059"),
            ("data", Map(
                ("CALL_ID", "externalCall.7b0c7de811455ef32b18dc5917e4306a.1773239327"),
                ("USER_ID", "1269"))),
            ("ts", "1773239326"),
            ("auth", Map(
                ("scope", "telephony"),
                ("domain", TestDomain),
                ("server_endpoint", OAuthServerEndpoint),
                ("status", "L"),
                ("client_endpoint", TestClientEndpoint),
                ("member_id", TestMemberId),
                ("application_token", TelApplicationToken)))),

        "odd.indexed-array" => Map(
            ("event", "ONCRMCONTACTUPDATE"),
            ("event_handler_id", "1101"),
            ("data", Map(
                ("FIELDS", Map(("ID", "7"))),
                ("PHONE", List("+1 415 555 0100", "+1 415 555 0101")),
                ("EMAIL", List(
                    Map(("VALUE", "a@example.com"), ("TYPE", "WORK")),
                    Map(("VALUE", "b@example.com"), ("TYPE", "HOME")))))),
            ("ts", "1773270100"),
            ("auth", TelephonyAuth())),

        "odd.amp-and-equals" => Map(
            ("event", "ONEXTERNALCALLBACKSTART"),
            ("event_handler_id", "1057"),
            ("data", Map(
                ("PHONE_NUMBER", "+79161234567"),
                ("TEXT", "Tom & Jerry: a=1&b=2 ?x=y#top"),
                ("VOICE", "ruinternalfemale"),
                ("CRM_ENTITY_TYPE", "LEAD"),
                ("CRM_ENTITY_ID", "4712"),
                ("LINE_NUMBER", "7"))),
            ("ts", "1773237200"),
            ("auth", TelephonyAuth())),

        "odd.special-chars" => Map(
            ("event", "ONCRMDEALUPDATE"),
            ("event_handler_id", "1100"),
            ("data", Map(
                ("FIELDS", Map(("ID", "43"), ("TITLE", SpecialTitle))),
                ("a b", "space key"),
                ("x.y", "dot key"),
                ("ключ", "значение"))),
            ("ts", "1773270200"),
            ("auth", TelephonyAuth())),

        "odd.scalars" => Map(
            ("event", "ONCRMDEALUPDATE"),
            ("data", Map(
                ("yes", true),
                ("no", false),
                ("nothing", null),
                ("zero", 0),
                ("answer", 42),
                ("negative", -7),
                ("big", 9007199254740993L),
                ("half", 1.5),
                ("tenth", 0.1),
                ("sum", 0.1 + 0.2),
                ("third", 1.0 / 3),
                ("whole", 2.0),
                ("huge", 1e20),
                ("tiny", 0.00001),
                ("small", 0.0001),
                ("fourteen", 1e14),
                ("fifteen", 1e15),
                ("negativeZero", -0.0),
                ("zeroFloat", 0.0),
                ("tie", 123456789012345.0),
                ("roundsUp", 99999999999999.5),
                ("negativeTiny", -1.5e-7),
                ("manyDigits", 1.23456789012345e300),
                ("nan", double.NaN),
                ("inf", double.PositiveInfinity),
                ("negativeInf", double.NegativeInfinity),
                ("empty", List())))),

        _ => throw new ArgumentOutOfRangeException(nameof(name), name, "No C# twin for this fixture."),
    };

    public const string SpecialTitle = "~*'!() 100% [x] {y}\t\r\nend 📞 ünïcödé";
}
