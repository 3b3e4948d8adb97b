/* api_time_test.c - RFC 3339 parsing and formatting (api/time.h): the
 * Kubernetes forms (Time, MicroTime), offsets, calendar edge cases, and the
 * offset of the bad character in errors.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

#include "api/time.h"

static int64_t parse_ok(const char *text, int32_t *nanos)
{
    int64_t t = 0;
    mc_err err = {0};
    int rc = mc_time_parse(text, &t, nanos, &err);
    if (rc != 0)
        fprintf(stderr, "%s: %s\n", text, err.msg);
    assert_int_equal(rc, 0);
    return t;
}

static void parse_bad(const char *text, const char *want)
{
    int64_t t;
    mc_err err = {0};
    assert_int_equal(mc_time_parse(text, &t, NULL, &err), MC_EINVAL);
    if (!strstr(err.msg, want))
        fprintf(stderr, "%s: message \"%s\" lacks \"%s\"\n", text, err.msg, want);
    assert_non_null(strstr(err.msg, want));
}

static void test_parse(void **state)
{
    (void)state;
    int32_t nanos = -1;
    assert_int_equal(parse_ok("1970-01-01T00:00:00Z", &nanos), 0);
    assert_int_equal(nanos, 0);
    assert_int_equal(parse_ok("2024-05-01T10:00:00Z", NULL), 1714557600);
    assert_int_equal(parse_ok("2024-05-01t10:00:00z", NULL), 1714557600);
    assert_int_equal(parse_ok("2024-05-01T12:00:00+02:00", NULL), 1714557600);
    assert_int_equal(parse_ok("2024-05-01T05:30:00-04:30", NULL), 1714557600);
    assert_int_equal(parse_ok("2024-05-01T10:00:00.123456Z", &nanos), 1714557600);
    assert_int_equal(nanos, 123456000);
    assert_int_equal(parse_ok("2024-05-01T10:00:00.5Z", &nanos), 1714557600);
    assert_int_equal(nanos, 500000000);
    assert_int_equal(parse_ok("2024-05-01T10:00:00.1234567891Z", &nanos), 1714557600);
    assert_int_equal(nanos, 123456789);
    assert_int_equal(parse_ok("1969-12-31T23:59:59Z", NULL), -1);
    assert_int_equal(parse_ok("2024-02-29T00:00:00Z", NULL), 1709164800);
    assert_int_equal(parse_ok("2000-02-29T00:00:00Z", NULL), 951782400);
    assert_int_equal(parse_ok("9999-12-31T23:59:59Z", NULL), 253402300799LL);
    assert_int_equal(parse_ok("0000-01-01T00:00:00Z", NULL), -62167219200LL);
}

static void test_parse_errors(void **state)
{
    (void)state;
    parse_bad("2024-05-01 10:00:00Z", "offset 10");
    parse_bad("2024-05-01T10:00:00", "offset 19");
    parse_bad("2024-05-01T10:00:00Zjunk", "offset 20");
    parse_bad("2024-5-01T10:00:00Z", "offset 6");
    parse_bad("2024-05-01T10:00:00.Z", "offset 20");
    parse_bad("2024-05-01T10:00:00+0200", "offset 22");
    parse_bad("", "offset 0");
    parse_bad("2023-02-29T00:00:00Z", "day out of range");
    parse_bad("1900-02-29T00:00:00Z", "day out of range");
    parse_bad("2024-04-31T00:00:00Z", "day out of range");
    parse_bad("2024-13-01T00:00:00Z", "month out of range");
    parse_bad("2024-00-01T00:00:00Z", "month out of range");
    parse_bad("2024-05-01T24:00:00Z", "time of day out of range");
    parse_bad("2024-05-01T10:60:00Z", "time of day out of range");
    parse_bad("2016-12-31T23:59:60Z", "time of day out of range");
    parse_bad("2024-05-01T10:00:00+24:00", "offset out of range");
    int64_t t;
    assert_int_equal(mc_time_parse(NULL, &t, NULL, NULL), MC_EINVAL);
}

static void test_format(void **state)
{
    (void)state;
    char buf[MC_TIME_RFC3339_MAX];
    assert_int_equal(mc_time_format(0, buf, sizeof(buf)), 0);
    assert_string_equal(buf, "1970-01-01T00:00:00Z");
    assert_int_equal(mc_time_format(1714557600, buf, sizeof(buf)), 0);
    assert_string_equal(buf, "2024-05-01T10:00:00Z");
    assert_int_equal(mc_time_format(-1, buf, sizeof(buf)), 0);
    assert_string_equal(buf, "1969-12-31T23:59:59Z");
    assert_int_equal(mc_time_format(951782400, buf, sizeof(buf)), 0);
    assert_string_equal(buf, "2000-02-29T00:00:00Z");
    assert_int_equal(mc_time_format_micro(1714557600, 123456789, buf, sizeof(buf)), 0);
    assert_string_equal(buf, "2024-05-01T10:00:00.123456Z");
    assert_int_equal(mc_time_format(253402300799LL, buf, sizeof(buf)), 0);
    assert_string_equal(buf, "9999-12-31T23:59:59Z");
    assert_int_equal(mc_time_format(253402300800LL, buf, sizeof(buf)), MC_EINVAL);
    assert_int_equal(mc_time_format(INT64_MIN, buf, sizeof(buf)), MC_EINVAL);
    assert_int_equal(mc_time_format(0, buf, 10), MC_EINVAL);
    assert_int_equal(mc_time_format_micro(0, 1000000000, buf, sizeof(buf)), MC_EINVAL);
}

/* Every day boundary over four centuries formats and parses back. */
static void test_roundtrip_days(void **state)
{
    (void)state;
    char buf[MC_TIME_RFC3339_MAX];
    for (int64_t t = -2208988800LL; t < 10413792000LL; t += 86400 * 7 + 3661) {
        assert_int_equal(mc_time_format(t, buf, sizeof(buf)), 0);
        assert_int_equal(parse_ok(buf, NULL), t);
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_parse),
        cmocka_unit_test(test_parse_errors),
        cmocka_unit_test(test_format),
        cmocka_unit_test(test_roundtrip_days),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
