<?php
// Builds the event-body fixtures the way Bitrix24 builds event bodies: PHP's http_build_query()
// with its defaults (PHP_QUERY_RFC1738, '&' separator, no numeric prefix).
//
//   php tests/Switchboard.Bitrix24.Tests/Fixtures/make-fixtures.php
//
// For every fixture it writes:
//   <name>.form            the body, byte for byte as http_build_query() returns it (no newline)
//   <name>.parse_str.json  what PHP's parse_str() (the official SDK's decoder) makes of that body,
//                          as json_encode() prints it; the tests compare PhpFormParser's tree with it.
// The tests never run PHP; the generated files are committed.

declare(strict_types=1);

$dir = __DIR__;

// The two literal examples from the English docs (/work/shared/seeds), as printed there.
$seedExternalCallStart = <<<'JSON'
{
"event": "ONEXTERNALCALLSTART",
"event_handler_id": "1055",
"data": {
"PHONE_NUMBER": "+14155551234",
"PHONE_NUMBER_INTERNATIONAL": "+14155551234",
"EXTENSION": "",
"USER_ID": "1269",
"CALL_LIST_ID": "0",
"LINE_NUMBER": "7",
"IS_MOBILE": "0",
"CALL_ID": "externalCall.89350264e026dace3f2b14d1f438257c.1773236989",
"CRM_ENTITY_TYPE": "CONTACT",
"CRM_ENTITY_ID": "797"
},
"ts": "1773236988",
"auth": {
"access_token": "s7p6eclrvim9da28dt9ch94ekreb52sv",
"expires_in": "3600",
"scope": "telephony",
"domain": "some-domain.bitrix24.com",
"server_endpoint": "https://oauth.bitrix.info/rest/",
"status": "F",
"client_endpoint": "https://example.bitrix24.com/rest/",
"member_id": "a223c6b9410f85df78e9377d6c4f7213",
"refresh_token": "4s386p3q0tr8dy89xvmt96234v3dljg8",
"application_token": "51610fefc120afg4b628cc82d6298cce"
}
}
JSON;

$seedVoximplantCallStart = <<<'JSON'
{
"event": "ONVOXIMPLANTCALLSTART",
"event_handler_id": "1059",
"data": {
"CALL_ID": "externalCall.7b0c7de811455ef32b18dc5917e4306a.1773239327",
"USER_ID": "1269"
},
"ts": "1773239326",
"auth": {
"access_token": "s7p6eclrvim9da28dt9ch94ekreb52sv",
"expires_in": "3600",
"scope": "telephony",
"domain": "some-domain.bitrix24.com",
"server_endpoint": "https://oauth.bitrix.info/rest/",
"status": "F",
"client_endpoint": "https://example.bitrix24.com/rest/",
"member_id": "a223c6b9410f85df78e9377d6c4f7213",
"refresh_token": "4s386p3q0tr8dy89xvmt96234v3dljg8",
"application_token": "51610fefc120afg4b628cc82d6298cce"
}
}
JSON;

// A full auth block of a telephony event (EN-docs _includes/auth-params-in-events.md).
$telephonyAuth = [
    'access_token' => 'tel-access-0b1c2d3e4f5a6b7c8d9e',
    'expires_in' => '3600',
    'scope' => 'telephony',
    'domain' => 'switchboard-test.bitrix24.com',
    'server_endpoint' => 'https://oauth.bitrix.info/rest/',
    'status' => 'L',
    'client_endpoint' => 'https://switchboard-test.bitrix24.com/rest/',
    'member_id' => 'b334d7ca521f96ef89fa488d7d508324',
    'refresh_token' => 'tel-refresh-1a2b3c4d5e6f7a8b9c0d',
    'application_token' => 'tel-apptoken-9f8e7d6c5b4a3f2e1d0c',
];

$fixtures = [
    'onexternalcallstart.seed' => json_decode($seedExternalCallStart, true, 512, JSON_THROW_ON_ERROR),
    'onvoximplantcallstart.seed' => json_decode($seedVoximplantCallStart, true, 512, JSON_THROW_ON_ERROR),

    'onexternalcallbackstart' => [
        'event' => 'ONEXTERNALCALLBACKSTART',
        'event_handler_id' => '1057',
        'data' => [
            'PHONE_NUMBER' => '+79161234567',
            'TEXT' => 'Перезвоните мне, пожалуйста',
            'VOICE' => 'ruinternalfemale',
            'CRM_ENTITY_TYPE' => 'LEAD',
            'CRM_ENTITY_ID' => '4711',
            'LINE_NUMBER' => '7',
        ],
        'ts' => '1773237100',
        'auth' => $telephonyAuth,
    ],

    'onvoximplantcallinit' => [
        'event' => 'ONVOXIMPLANTCALLINIT',
        'event_handler_id' => '1058',
        'data' => [
            'CALL_ID' => 'externalCall.7b0c7de811455ef32b18dc5917e4306a.1773239327',
            'CALL_TYPE' => '2',
            'ACCOUNT_SEARCH_ID' => 'sip1',
            'PHONE_NUMBER' => '+74951234567',
            'CALLER_ID' => '+14155550100',
            'REST_APP_ID' => '33',
        ],
        'ts' => '1773239320',
        'auth' => $telephonyAuth,
    ],

    // REFERENCE.md §5.5, every field; a click-to-call the caller hung up on.
    'onvoximplantcallend.cancelled' => [
        'event' => 'ONVOXIMPLANTCALLEND',
        'event_handler_id' => '1061',
        'data' => [
            'CALL_ID' => 'externalCall.89350264e026dace3f2b14d1f438257c.1773236989',
            'CALL_TYPE' => '1',
            'PHONE_NUMBER' => '+14155551234',
            'PORTAL_NUMBER' => 'REST_APP:33',
            'PORTAL_USER_ID' => '1269',
            'CALL_DURATION' => '0',
            'CALL_START_DATE' => '2026-03-11T17:28:46+03:00',
            'COST' => '0.0000',
            'COST_CURRENCY' => '',
            'CALL_FAILED_CODE' => '603-S',
            'CALL_FAILED_REASON' => 'Call canceled',
            'CRM_ACTIVITY_ID' => '8812',
        ],
        'ts' => '1773239624',
        'auth' => $telephonyAuth,
    ],

    // The same fields, an incoming call that ended with the catch-all code.
    'onvoximplantcallend.other' => [
        'event' => 'ONVOXIMPLANTCALLEND',
        'event_handler_id' => '1061',
        'data' => [
            'CALL_ID' => 'externalCall.7b0c7de811455ef32b18dc5917e4306a.1773239327',
            'CALL_TYPE' => '2',
            'PHONE_NUMBER' => '+74951234567',
            'PORTAL_NUMBER' => 'sip1',
            'PORTAL_USER_ID' => '1270',
            'CALL_DURATION' => '125',
            'CALL_START_DATE' => '2026-03-11T17:28:46+03:00',
            'COST' => '1.2500',
            'COST_CURRENCY' => 'RUB',
            'CALL_FAILED_CODE' => 'OTHER',
            'CALL_FAILED_REASON' => 'Undefined error',
            'CRM_ACTIVITY_ID' => '8813',
        ],
        'ts' => '1773239760',
        'auth' => $telephonyAuth,
    ],

    // REFERENCE.md §2.1; expires and user_id as in the SDK's fixtures, scope as a comma list.
    'onappinstall' => [
        'event' => 'ONAPPINSTALL',
        'event_handler_id' => '1001',
        'data' => [
            'VERSION' => '1',
            'ACTIVE' => 'Y',
            'INSTALLED' => 'Y',
            'LANGUAGE_ID' => 'ru',
        ],
        'ts' => '1773230000',
        'auth' => [
            'access_token' => 'install-access-5e6f7a8b9c0d1e2f3a4b',
            'expires' => '1773233600',
            'expires_in' => '3600',
            'scope' => 'crm,telephony,user,placement',
            'domain' => 'switchboard-test.bitrix24.com',
            'server_endpoint' => 'https://oauth.bitrix.info/rest/',
            'status' => 'L',
            'client_endpoint' => 'https://switchboard-test.bitrix24.com/rest/',
            'member_id' => 'b334d7ca521f96ef89fa488d7d508324',
            'user_id' => '1',
            'refresh_token' => 'install-refresh-6f7a8b9c0d1e2f3a4b5c',
            'application_token' => 'install-apptoken-7a8b9c0d1e2f3a4b5c6d',
        ],
    ],

    // REFERENCE.md §2.3: the full auth set, with the new application_token.
    'onappupdate' => [
        'event' => 'ONAPPUPDATE',
        'event_handler_id' => '1002',
        'data' => [
            'VERSION' => '2',
            'PREVIOUS_VERSION' => '1',
            'LANGUAGE_ID' => 'en',
        ],
        'ts' => '1773240000',
        'auth' => [
            'access_token' => 'update-access-8b9c0d1e2f3a4b5c6d7e',
            'expires' => '1773243600',
            'expires_in' => '3600',
            'scope' => 'crm,telephony,user,placement',
            'domain' => 'switchboard-test.bitrix24.com',
            'server_endpoint' => 'https://oauth.bitrix.info/rest/',
            'status' => 'P',
            'client_endpoint' => 'https://switchboard-test.bitrix24.com/rest/',
            'member_id' => 'b334d7ca521f96ef89fa488d7d508324',
            'user_id' => '1',
            'refresh_token' => 'update-refresh-9c0d1e2f3a4b5c6d7e8f',
            'application_token' => 'update-apptoken-0d1e2f3a4b5c6d7e8f9a',
        ],
    ],

    // REFERENCE.md §2.2: no access or refresh token, only these five auth fields.
    'onappuninstall' => [
        'event' => 'ONAPPUNINSTALL',
        'event_handler_id' => '1003',
        'data' => [
            'CLEAN' => '1',
            'LANGUAGE_ID' => 'de',
        ],
        'ts' => '1773250000',
        'auth' => [
            'domain' => 'switchboard-test.bitrix24.com',
            'server_endpoint' => 'https://oauth.bitrix.info/rest/',
            'client_endpoint' => 'https://switchboard-test.bitrix24.com/rest/',
            'member_id' => 'b334d7ca521f96ef89fa488d7d508324',
            'application_token' => 'uninstall-apptoken-1e2f3a4b5c6d7e8f9a0b',
        ],
    ],

    // REFERENCE.md §1.8: data is empty, so http_build_query leaves the key out altogether.
    'onofflineevent' => [
        'event' => 'ONOFFLINEEVENT',
        'event_handler_id' => '1004',
        'data' => [],
        'ts' => '1773260000',
        'auth' => $telephonyAuth,
    ],

    // An event without a typed class, with the nested key of local-integrations/local-webhooks.md.
    'oncrmdealupdate' => [
        'event' => 'ONCRMDEALUPDATE',
        'event_handler_id' => '1100',
        'data' => ['FIELDS' => ['ID' => '42']],
        'ts' => '1773270000',
        'auth' => $telephonyAuth,
    ],

    // '+' and spaces inside values: '+' must arrive as %2B, a space as '+'.
    'odd.plus-and-spaces' => [
        'event' => 'ONEXTERNALCALLSTART',
        'event_handler_id' => '1055',
        'data' => [
            'PHONE_NUMBER' => '+7 (495) 123-45-67',
            'PHONE_NUMBER_INTERNATIONAL' => '+74951234567',
            'EXTENSION' => '',
            'USER_ID' => '1269',
            'CALL_LIST_ID' => '15',
            'LINE_NUMBER' => 'Main line + 2',
            'IS_MOBILE' => '1',
            'CALL_ID' => 'externalCall.0123456789abcdef0123456789abcdef.1773280000',
            'CRM_ENTITY_TYPE' => 'COMPANY',
            'CRM_ENTITY_ID' => '12',
        ],
        'ts' => '1773280000',
        'auth' => $telephonyAuth,
    ],

    // Empty strings everywhere a click-to-call allows them.
    'odd.empty-values' => [
        'event' => 'ONEXTERNALCALLSTART',
        'event_handler_id' => '1055',
        'data' => [
            'PHONE_NUMBER' => '+14155551234',
            'PHONE_NUMBER_INTERNATIONAL' => '',
            'EXTENSION' => '',
            'USER_ID' => '',
            'CALL_LIST_ID' => '',
            'LINE_NUMBER' => '',
            'IS_MOBILE' => '',
            'CALL_ID' => 'externalCall.fedcba9876543210fedcba9876543210.1773280100',
            'CRM_ENTITY_TYPE' => '',
            'CRM_ENTITY_ID' => '',
        ],
        'ts' => '1773280100',
        'auth' => $telephonyAuth,
    ],

    // A robot-triggered event: no access_token and no refresh_token (EN-docs api-reference/events/index.md).
    'odd.no-tokens' => [
        'event' => 'ONVOXIMPLANTCALLSTART',
        'event_handler_id' => '1059',
        'data' => [
            'CALL_ID' => 'externalCall.7b0c7de811455ef32b18dc5917e4306a.1773239327',
            'USER_ID' => '1269',
        ],
        'ts' => '1773239326',
        'auth' => [
            'scope' => 'telephony',
            'domain' => 'switchboard-test.bitrix24.com',
            'server_endpoint' => 'https://oauth.bitrix.info/rest/',
            'status' => 'L',
            'client_endpoint' => 'https://switchboard-test.bitrix24.com/rest/',
            'member_id' => 'b334d7ca521f96ef89fa488d7d508324',
            'application_token' => 'tel-apptoken-9f8e7d6c5b4a3f2e1d0c',
        ],
    ],

    // A PHP list inside data: data[PHONE][0], data[PHONE][1]; and a deeper nested group.
    'odd.indexed-array' => [
        'event' => 'ONCRMCONTACTUPDATE',
        'event_handler_id' => '1101',
        'data' => [
            'FIELDS' => ['ID' => '7'],
            'PHONE' => ['+1 415 555 0100', '+1 415 555 0101'],
            'EMAIL' => [['VALUE' => 'a@example.com', 'TYPE' => 'WORK'], ['VALUE' => 'b@example.com', 'TYPE' => 'HOME']],
        ],
        'ts' => '1773270100',
        'auth' => $telephonyAuth,
    ],

    // '&' and '=' inside a value must not split the pair.
    'odd.amp-and-equals' => [
        'event' => 'ONEXTERNALCALLBACKSTART',
        'event_handler_id' => '1057',
        'data' => [
            'PHONE_NUMBER' => '+79161234567',
            'TEXT' => 'Tom & Jerry: a=1&b=2 ?x=y#top',
            'VOICE' => 'ruinternalfemale',
            'CRM_ENTITY_TYPE' => 'LEAD',
            'CRM_ENTITY_ID' => '4712',
            'LINE_NUMBER' => '7',
        ],
        'ts' => '1773237200',
        'auth' => $telephonyAuth,
    ],

    // Characters urlencode() treats specially: ~ * ' ! ( ) are escaped, a literal '%', brackets,
    // a tab and CRLF, a 4-byte UTF-8 character; and keys with a space, a dot and Cyrillic.
    'odd.special-chars' => [
        'event' => 'ONCRMDEALUPDATE',
        'event_handler_id' => '1100',
        'data' => [
            'FIELDS' => ['ID' => '43', 'TITLE' => "~*'!() 100% [x] {y}\t\r\nend 📞 ünïcödé"],
            'a b' => 'space key',
            'x.y' => 'dot key',
            'ключ' => 'значение',
        ],
        'ts' => '1773270200',
        'auth' => $telephonyAuth,
    ],

    // PHP scalar types, for the encoder's parity only: true/false become 1/0, null is left out,
    // ints as written, floats with PHP's precision=14 %G formatting.
    'odd.scalars' => [
        'event' => 'ONCRMDEALUPDATE',
        'data' => [
            'yes' => true,
            'no' => false,
            'nothing' => null,
            'zero' => 0,
            'answer' => 42,
            'negative' => -7,
            'big' => 9007199254740993,
            'half' => 1.5,
            'tenth' => 0.1,
            'sum' => 0.1 + 0.2,
            'third' => 1 / 3,
            'whole' => 2.0,
            'huge' => 1e20,
            'tiny' => 0.00001,
            'small' => 0.0001,
            'fourteen' => 1e14,
            'fifteen' => 1e15,
            'negativeZero' => -0.0,
            'zeroFloat' => 0.0,
            'tie' => 123456789012345.0,
            'roundsUp' => 99999999999999.5,
            'negativeTiny' => -1.5e-7,
            'manyDigits' => 1.23456789012345e300,
            'nan' => NAN,
            'inf' => INF,
            'negativeInf' => -INF,
            'empty' => [],
        ],
    ],
];

// Bodies PHP never builds but parse_str() still reads, to compare append ('[]') semantics.
$rawBodies = [
    'raw.append' => 'data[X][]=a&data[X][]=b&data[X][]=c',
    'raw.append-after-index' => 'data[X][5]=a&data[X][]=b&data[Y][07]=c&data[Y][]=d&data[Z][-3]=e&data[Z][]=f',
    'raw.append-groups' => 'data[L][][ID]=1&data[L][][ID]=2',
];

$written = 0;
foreach ($fixtures as $name => $fields) {
    $body = http_build_query($fields);
    file_put_contents("$dir/$name.form", $body);
    writeParsed($dir, $name, $body);
    $written++;
}

foreach ($rawBodies as $name => $body) {
    file_put_contents("$dir/$name.form", $body);
    writeParsed($dir, $name, $body);
    $written++;
}

fwrite(STDOUT, sprintf("Wrote %d fixtures with PHP %s\n", $written, PHP_VERSION));

function writeParsed(string $dir, string $name, string $body): void
{
    parse_str($body, $parsed);
    // JSON_FORCE_OBJECT: PHP lists become {"0":…,"1":…}, the shape FormNode uses for indexed keys.
    $json = json_encode($parsed, JSON_FORCE_OBJECT | JSON_UNESCAPED_UNICODE | JSON_UNESCAPED_SLASHES | JSON_PRETTY_PRINT | JSON_THROW_ON_ERROR);
    file_put_contents("$dir/$name.parse_str.json", $json . "\n");
}
