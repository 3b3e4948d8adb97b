/* util_test.c - unit tests for util/: errors, buffers, base64, strings,
 * files, durations, hosts and the redacting logger. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "util/base64.h"
#include "util/buf.h"
#include "util/duration.h"
#include "util/err.h"
#include "util/file.h"
#include "util/host.h"
#include "util/log.h"
#include "util/sorted.h"
#include "util/str.h"

/* ---- err ---- */

static void test_err_set_and_prefix(void **state)
{
    (void)state;
    mc_err err = {0};
    assert_int_equal(mc_err_set(&err, MC_EINVAL, "bad %s\nline", "thing"), MC_EINVAL);
    assert_string_equal(err.msg, "bad thing line");
    assert_int_equal(mc_err_prefix(&err, "file %s", "a.pem"), MC_EINVAL);
    assert_string_equal(err.msg, "file a.pem: bad thing line");
    assert_int_equal(mc_err_set(NULL, MC_EIO, "ignored"), MC_EIO);
    mc_err_clear(&err);
    assert_int_equal(err.code, MC_OK);
    assert_string_equal(err.msg, "");
    assert_string_equal(mc_err_code_str(MC_EVERIFY), "verification failed");
    assert_string_equal(mc_err_code_str(12345), "unknown error");
}

static void test_err_truncates_long_messages(void **state)
{
    (void)state;
    mc_err err = {0};
    char big[2000];
    memset(big, 'x', sizeof(big) - 1);
    big[sizeof(big) - 1] = '\0';
    mc_err_set(&err, MC_EINVAL, "%s", big);
    assert_int_equal(strlen(err.msg), MC_ERR_MSG_MAX - 1);
    mc_err_prefix(&err, "ctx");
    assert_int_equal(strlen(err.msg), MC_ERR_MSG_MAX - 1);
    assert_true(strncmp(err.msg, "ctx: xxx", 8) == 0);
}

/* ---- buf ---- */

static void test_buf_grows_and_caps(void **state)
{
    (void)state;
    mc_buf b;
    mc_buf_init(&b, 10);
    assert_int_equal(mc_buf_append_str(&b, "hello"), MC_OK);
    assert_int_equal(mc_buf_appendf(&b, "%d", 1234), MC_OK);
    assert_string_equal(b.data, "hello1234");
    assert_int_equal(mc_buf_append_str(&b, "ab"), MC_ELIMIT);
    assert_string_equal(b.data, "hello1234"); /* unchanged on failure */
    assert_int_equal(mc_buf_appendf(&b, "%s", "ab"), MC_ELIMIT);
    assert_int_equal(mc_buf_append_str(&b, "a"), MC_OK);
    size_t len = 0;
    char *s = mc_buf_steal(&b, &len);
    assert_string_equal(s, "hello1234a");
    assert_int_equal(len, 10);
    assert_null(b.data);
    free(s);
    mc_buf_free(&b);
}

static void test_buf_large_and_secure(void **state)
{
    (void)state;
    mc_buf b;
    mc_buf_init(&b, 1 << 20);
    for (int i = 0; i < 10000; i++)
        assert_int_equal(mc_buf_append(&b, "0123456789", 10), MC_OK);
    assert_int_equal(b.len, 100000);
    assert_int_equal(b.data[b.len], '\0');
    mc_buf_free_secure(&b);
    assert_null(b.data);
    char *empty = mc_buf_steal(&b, NULL);
    assert_non_null(empty);
    assert_string_equal(empty, "");
    free(empty);
}

/* ---- base64 (RFC 4648 section 10 test vectors) ---- */

static void test_base64_rfc4648_vectors(void **state)
{
    (void)state;
    static const char *const plain[] = {"", "f", "fo", "foo", "foob", "fooba", "foobar"};
    static const char *const coded[] = {"",         "Zg==",     "Zm8=",    "Zm9v",
                                        "Zm9vYg==", "Zm9vYmE=", "Zm9vYmFy"};
    for (size_t i = 0; i < 7; i++) {
        char *enc = NULL;
        size_t enc_len = 0;
        assert_int_equal(mc_base64_encode(plain[i], strlen(plain[i]), &enc, &enc_len), MC_OK);
        assert_string_equal(enc, coded[i]);
        assert_int_equal(enc_len, strlen(coded[i]));
        unsigned char *dec = NULL;
        size_t dec_len = 0;
        assert_int_equal(mc_base64_decode(enc, enc_len, &dec, &dec_len, NULL), MC_OK);
        assert_int_equal(dec_len, strlen(plain[i]));
        assert_memory_equal(dec, plain[i], dec_len);
        free(enc);
        free(dec);
    }
}

static void test_base64_binary_roundtrip(void **state)
{
    (void)state;
    unsigned char data[256];
    for (int i = 0; i < 256; i++)
        data[i] = (unsigned char)i;
    for (size_t n = 0; n <= sizeof(data); n += 17) {
        char *enc = NULL;
        unsigned char *dec = NULL;
        size_t enc_len, dec_len;
        assert_int_equal(mc_base64_encode(data, n, &enc, &enc_len), MC_OK);
        assert_int_equal(mc_base64_decode(enc, enc_len, &dec, &dec_len, NULL), MC_OK);
        assert_int_equal(dec_len, n);
        assert_memory_equal(dec, data, n);
        free(enc);
        free(dec);
    }
}

static void expect_base64_error(const char *text, const char *fragment)
{
    mc_err err = {0};
    unsigned char *dec = NULL;
    size_t dec_len = 0;
    assert_int_equal(mc_base64_decode(text, strlen(text), &dec, &dec_len, &err), MC_EINVAL);
    assert_null(dec);
    if (!strstr(err.msg, fragment))
        fail_msg("base64 \"%s\": error \"%s\" lacks \"%s\"", text, err.msg, fragment);
}

static void test_base64_rejects_garbage(void **state)
{
    (void)state;
    expect_base64_error("Zm9", "multiple of 4");
    expect_base64_error("Zm9v\n", "multiple of 4");
    expect_base64_error("Zm!v", "offset 2");
    expect_base64_error("Z=9v", "offset 1");
    expect_base64_error("Zg==Zm9v", "offset 2");
    expect_base64_error("Zh==", "non-canonical");
    expect_base64_error("Zm9=", "non-canonical");
    expect_base64_error("Zm-_", "offset 2"); /* URL alphabet is not standard base64 */
}

/* ---- str ---- */

static void test_str_helpers(void **state)
{
    (void)state;
    char small[4];
    assert_int_equal(mc_strlcpy(small, "abcdef", sizeof(small)), 6);
    assert_string_equal(small, "abc");
    assert_int_equal(mc_strlcpy(small, "ab", sizeof(small)), 2);
    assert_string_equal(small, "ab");
    char *d = mc_strndup("hello", 3);
    assert_string_equal(d, "hel");
    free(d);
    assert_null(mc_strdup(NULL));
    assert_true(mc_str_has_prefix("spiffe://x", "spiffe://"));
    assert_false(mc_str_has_prefix("spiff", "spiffe://"));
    assert_true(mc_str_has_control("a\x01", 2));
    assert_false(mc_str_has_control("a\tb\r\n", 5));
    const char hay[] = "abc\0PRIVATE KEY-----";
    assert_ptr_equal(mc_mem_find(hay, sizeof(hay) - 1, "PRIVATE KEY"), hay + 4);
    assert_null(mc_mem_find(hay, 10, "PRIVATE KEY"));
    char *secret = mc_strdup("token");
    mc_secure_free_str(secret);
    mc_secure_free_str(NULL);
}

/* ---- file ---- */

static char *make_temp_dir(void)
{
    char templ[] = "/tmp/mc-util-test-XXXXXX";
    char *dir = mkdtemp(templ);
    assert_non_null(dir);
    return mc_strdup(dir);
}

static void remove_tree(const char *dir)
{
    DIR *d = opendir(dir);
    if (!d)
        return;
    struct dirent *e;
    char path[4096];
    while ((e = readdir(d)) != NULL) {
        if (strcmp(e->d_name, ".") == 0 || strcmp(e->d_name, "..") == 0)
            continue;
        snprintf(path, sizeof(path), "%s/%s", dir, e->d_name);
        struct stat st;
        if (lstat(path, &st) == 0 && S_ISDIR(st.st_mode))
            remove_tree(path);
        else
            unlink(path);
    }
    closedir(d);
    rmdir(dir);
}

static int count_entries(const char *dir)
{
    DIR *d = opendir(dir);
    int n = 0;
    struct dirent *e;
    while (d && (e = readdir(d)) != NULL)
        if (e->d_name[0] != '.')
            n++;
    if (d)
        closedir(d);
    return n;
}

static void test_file_write_all_and_read(void **state)
{
    (void)state;
    char *dir = make_temp_dir();
    char out[4096];
    snprintf(out, sizeof(out), "%s/a/b", dir);
    mc_file_entry files[] = {{"key.pem", "secret", 6, 0600}, {"cert.pem", "public", 6, 0644}};
    mc_err err = {0};
    assert_int_equal(mc_file_write_all(out, files, 2, &err), MC_OK);
    assert_int_equal(count_entries(out), 2);
    char path[4200];
    struct stat st;
    snprintf(path, sizeof(path), "%s/key.pem", out);
    assert_int_equal(stat(path, &st), 0);
    assert_int_equal(st.st_mode & 0777, 0600);
    snprintf(path, sizeof(path), "%s/cert.pem", out);
    assert_int_equal(stat(path, &st), 0);
    assert_int_equal(st.st_mode & 0777, 0644);
    char *data = NULL;
    size_t len = 0;
    assert_int_equal(mc_file_read(path, 100, &data, &len, &err), MC_OK);
    assert_int_equal(len, 6);
    assert_string_equal(data, "public");
    free(data);
    assert_int_equal(mc_file_read(path, 5, &data, &len, &err), MC_ELIMIT);
    assert_non_null(strstr(err.msg, "cert.pem"));
    assert_int_equal(mc_file_read(out, 5, &data, &len, &err), MC_EINVAL);
    assert_non_null(strstr(err.msg, "directory"));
    snprintf(path, sizeof(path), "%s/missing.pem", out);
    assert_int_equal(mc_file_read(path, 5, &data, &len, &err), MC_ENOTFOUND);
    assert_non_null(strstr(err.msg, "missing.pem"));
    remove_tree(dir);
    free(dir);
}

static void test_file_write_all_is_all_or_nothing(void **state)
{
    (void)state;
    char *dir = make_temp_dir();
    mc_file_entry first[] = {{"one.pem", "old", 3, 0644}};
    mc_err err = {0};
    assert_int_equal(mc_file_write_all(dir, first, 1, &err), MC_OK);
    /* The second entry cannot be written (its directory does not exist): the
     * first must keep its old contents and no temporary file may remain. */
    mc_file_entry both[] = {{"one.pem", "new", 3, 0644}, {"no-such-dir/two.pem", "x", 1, 0644}};
    assert_int_not_equal(mc_file_write_all(dir, both, 2, &err), MC_OK);
    assert_non_null(strstr(err.msg, "two.pem"));
    char path[4096];
    snprintf(path, sizeof(path), "%s/one.pem", dir);
    char *data = NULL;
    size_t len = 0;
    assert_int_equal(mc_file_read(path, 100, &data, &len, NULL), MC_OK);
    assert_string_equal(data, "old");
    free(data);
    assert_int_equal(count_entries(dir), 1);
    assert_int_equal(mc_file_write_atomic(path, "newer", 5, 0600, &err), MC_OK);
    assert_int_equal(mc_file_read(path, 100, &data, &len, NULL), MC_OK);
    assert_string_equal(data, "newer");
    free(data);
    assert_int_equal(count_entries(dir), 1);
    remove_tree(dir);
    free(dir);
}

/* ---- duration ---- */

static void test_duration_parse(void **state)
{
    (void)state;
    int64_t s = 0;
    assert_int_equal(mc_duration_parse("10y", &s, NULL), MC_OK);
    assert_int_equal(s, (int64_t)10 * 365 * 86400);
    assert_int_equal(mc_duration_parse("365d", &s, NULL), MC_OK);
    assert_int_equal(s, (int64_t)365 * 86400);
    assert_int_equal(mc_duration_parse("8760h", &s, NULL), MC_OK);
    assert_int_equal(s, (int64_t)365 * 86400);
    assert_int_equal(mc_duration_parse("1h30m", &s, NULL), MC_OK);
    assert_int_equal(s, 5400);
    assert_int_equal(mc_duration_parse("90", &s, NULL), MC_OK);
    assert_int_equal(s, 90);
    mc_err err = {0};
    static const char *const bad[] = {
        "", "d", "10x", "-5d", "1.5y", "0", "0d", "1001y", "99999999999999999999d", "5 d"};
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        if (mc_duration_parse(bad[i], &s, &err) != MC_EINVAL)
            fail_msg("duration \"%s\" was accepted", bad[i]);
    }
    char out[32];
    mc_duration_format((int64_t)10 * 365 * 86400, out, sizeof(out));
    assert_string_equal(out, "10y");
    mc_duration_format(86400 * 2, out, sizeof(out));
    assert_string_equal(out, "2d");
    mc_duration_format(61, out, sizeof(out));
    assert_string_equal(out, "61s");
    /* Go durations for Kubernetes fields: h, m, s only */
    mc_duration_format_go((int64_t)365 * 86400, out, sizeof(out));
    assert_string_equal(out, "8760h");
    mc_duration_format_go(5400, out, sizeof(out));
    assert_string_equal(out, "90m");
    mc_duration_format_go(61, out, sizeof(out));
    assert_string_equal(out, "61s");
    mc_duration_format_go(60, out, sizeof(out));
    assert_string_equal(out, "1m");
}

/* Milliseconds: "<n>ms" or any duration (timeouts such as 500ms, 30s, 1m30s). */
static void test_duration_parse_ms(void **state)
{
    (void)state;
    int64_t ms = 0;
    assert_int_equal(mc_duration_parse_ms("500ms", &ms, NULL), MC_OK);
    assert_int_equal(ms, 500);
    assert_int_equal(mc_duration_parse_ms("30s", &ms, NULL), MC_OK);
    assert_int_equal(ms, 30000);
    assert_int_equal(mc_duration_parse_ms("1m30s", &ms, NULL), MC_OK);
    assert_int_equal(ms, 90000);
    assert_int_equal(mc_duration_parse_ms("45", &ms, NULL), MC_OK); /* seconds */
    assert_int_equal(ms, 45000);
    mc_err err = {0};
    static const char *const bad[] = {"", "ms", "0ms", "-5ms", "5xms", "1.5ms", "0", "soon"};
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        if (mc_duration_parse_ms(bad[i], &ms, &err) != MC_EINVAL)
            fail_msg("duration \"%s\" was accepted", bad[i]);
    }
}

/* ---- host ---- */

static void expect_host(const char *host, mc_host_kind kind, size_t ip_len)
{
    mc_host h;
    mc_err err = {0};
    if (mc_host_classify(host, &h, &err) != MC_OK)
        fail_msg("host \"%s\" rejected: %s", host, err.msg);
    assert_int_equal(h.kind, kind);
    assert_int_equal(h.ip_len, ip_len);
}

static void test_host_classify(void **state)
{
    (void)state;
    expect_host("10.0.0.1", MC_HOST_IP, 4);
    expect_host("::1", MC_HOST_IP, 16);
    expect_host("2001:db8::8a2e:370:7334", MC_HOST_IP, 16);
    expect_host("spiffe://cluster.local/ns/istio-system/sa/citadel", MC_HOST_URI, 0);
    expect_host("https://example.com/x", MC_HOST_URI, 0);
    expect_host("urn:uuid:123", MC_HOST_URI, 0);
    expect_host("istiod.istio-system.svc", MC_HOST_DNS, 0);
    expect_host("*.mesh.example.com", MC_HOST_DNS, 0);
    expect_host("localhost", MC_HOST_DNS, 0);
    mc_host h;
    static const char *const bad[] = {
        "",        "a..b",      "-x.com",    "x-.com",       "a b",
        "http//x", "300.1.1.1", "1.2.3.4.5", "exa_mple.com", "x.*.com", "spiffe:x.local",
        ":80",     "a\nb",      "1:2:3",     "spiffe://",    "spiffe:///x"};
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        mc_err err = {0};
        if (mc_host_classify(bad[i], &h, &err) != MC_EINVAL)
            fail_msg("host \"%s\" was accepted", bad[i]);
        assert_true(err.msg[0] != '\0');
    }
    char label64[80];
    memset(label64, 'a', 64);
    memcpy(label64 + 64, ".com", 5);
    assert_int_equal(mc_host_classify(label64, &h, NULL), MC_EINVAL);
    label64[1] = '.'; /* now labels of 1 and 62 characters */
    assert_int_equal(mc_host_classify(label64, &h, NULL), MC_OK);
    char *huge = malloc(MC_HOST_MAX_LEN + 10);
    memset(huge, 'a', MC_HOST_MAX_LEN + 9);
    huge[MC_HOST_MAX_LEN + 9] = '\0';
    mc_err err = {0};
    assert_int_equal(mc_host_classify(huge, &h, &err), MC_EINVAL);
    assert_non_null(strstr(err.msg, "longer than"));
    free(huge);
}

/* ---- sorted ---- */

static const char *string_name(const void *item)
{
    return item;
}

static void test_sorted_index(void **state)
{
    (void)state;
    const char *names[] = {"alpha", "east", "mgmt", "west"};
    int found = -1;
    assert_int_equal(mc_sorted_index((void *const *)names, 4, string_name, "mgmt", &found), 2);
    assert_int_equal(found, 1);
    assert_int_equal(mc_sorted_index((void *const *)names, 4, string_name, "c1", &found), 1);
    assert_int_equal(found, 0);
    assert_int_equal(mc_sorted_index((void *const *)names, 4, string_name, "zz", &found), 4);
    assert_int_equal(found, 0);
    assert_int_equal(mc_sorted_index(NULL, 0, string_name, "a", &found), 0);
    assert_int_equal(found, 0);
}

/* ---- log ---- */

static char *capture_log(mc_log_level level, mc_log_format format, const char *msg)
{
    char *text = NULL;
    size_t len = 0;
    FILE *out = open_memstream(&text, &len);
    assert_non_null(out);
    mc_log_configure(MC_LOG_INFO, format, out);
    mc_log(level, "test", "%s", msg);
    fclose(out);
    mc_log_configure(MC_LOG_INFO, MC_LOG_TEXT, NULL);
    return text;
}

static void test_log_redacts_keys_and_tokens(void **state)
{
    (void)state;
    const char *msg =
        "got -----BEGIN RSA PRIVATE KEY-----\nMIIEpAIBAAKCAQEAsecretsecret\n"
        "-----END RSA PRIVATE KEY----- and cert -----BEGIN CERTIFICATE-----\nMIIB\n"
        "-----END CERTIFICATE----- Authorization: Bearer eyJhbGciOiJSUzI1NiJ9.abc.def";
    char *line = capture_log(MC_LOG_INFO, MC_LOG_TEXT, msg);
    assert_null(strstr(line, "secretsecret"));
    assert_null(strstr(line, "PRIVATE KEY"));
    assert_null(strstr(line, "eyJhbGci"));
    assert_non_null(strstr(line, "[REDACTED]"));
    assert_non_null(strstr(line, "BEGIN CERTIFICATE")); /* public material stays */
    assert_non_null(strstr(line, " info  test: got"));
    assert_int_equal(strchr(line, '\n'), line + strlen(line) - 1); /* one line */
    free(line);

    char unterminated[] = "x -----BEGIN PRIVATE KEY-----\nMIIEvQIBADANBgkq";
    mc_log_redact(unterminated);
    assert_string_equal(unterminated, "x [REDACTED]");
    char short_token[] = "Bearer abc";
    mc_log_redact(short_token);
    assert_string_equal(short_token, "Bearer ***");
}

static void test_log_json_and_levels(void **state)
{
    (void)state;
    char *line = capture_log(MC_LOG_WARN, MC_LOG_JSON, "quote \" and \\ and\ttab");
    assert_non_null(strstr(line, "\"level\":\"warn\""));
    assert_non_null(strstr(line, "\"component\":\"test\""));
    assert_non_null(strstr(line, "\"msg\":\"quote \\\" and \\\\ and\\u0009tab\""));
    assert_true(line[0] == '{');
    assert_non_null(strstr(line, "\"ts\":\"20"));
    free(line);
    line = capture_log(MC_LOG_DEBUG, MC_LOG_TEXT, "hidden");
    assert_true(line == NULL || line[0] == '\0');
    free(line);
    assert_int_equal(mc_log_level_parse("debug"), MC_LOG_DEBUG);
    assert_int_equal(mc_log_level_parse("error"), MC_LOG_ERROR);
    assert_int_equal(mc_log_level_parse("loud"), -1);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_err_set_and_prefix),
        cmocka_unit_test(test_err_truncates_long_messages),
        cmocka_unit_test(test_buf_grows_and_caps),
        cmocka_unit_test(test_buf_large_and_secure),
        cmocka_unit_test(test_base64_rfc4648_vectors),
        cmocka_unit_test(test_base64_binary_roundtrip),
        cmocka_unit_test(test_base64_rejects_garbage),
        cmocka_unit_test(test_str_helpers),
        cmocka_unit_test(test_file_write_all_and_read),
        cmocka_unit_test(test_file_write_all_is_all_or_nothing),
        cmocka_unit_test(test_duration_parse),
        cmocka_unit_test(test_duration_parse_ms),
        cmocka_unit_test(test_host_classify),
        cmocka_unit_test(test_sorted_index),
        cmocka_unit_test(test_log_redacts_keys_and_tokens),
        cmocka_unit_test(test_log_json_and_levels),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
