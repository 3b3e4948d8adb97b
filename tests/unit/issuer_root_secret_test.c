/* issuer_root_secret_test.c - the root Secret format (issuer/root_secret.h)
 * for a key kept outside the API: key-ref read back (trimmed, refused when
 * empty, not base64 or beside a key.pem), a Secret with root-cert.pem and
 * key-ref is a root, and the rotation's swap copies the certificate and the
 * reference (removing the other key form), never inventing a key.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <string.h>

#include <cmocka.h>

#include "issuer/root_secret.h"

/* A Secret whose data is the given base64 values (NULL: key absent). */
static json_t *secret(const char *cert, const char *key, const char *ref)
{
    json_t *data = json_object();
    if (cert)
        json_object_set_new(data, MC_ROOT_SECRET_CERT_KEY, json_string(cert));
    if (key)
        json_object_set_new(data, MC_ROOT_SECRET_KEY_KEY, json_string(key));
    if (ref)
        json_object_set_new(data, MC_ROOT_SECRET_KEY_REF_KEY, json_string(ref));
    return json_pack("{s:{s:s, s:s, s:s}, s:o}", "metadata", "name", "root-ca", "namespace",
                     "meshcert", "resourceVersion", "7", "data", data);
}

static const char *data_of(const json_t *s, const char *key)
{
    return json_string_value(json_object_get(json_object_get(s, "data"), key));
}

/* "cGtjczExOnRva2VuPWE7b2JqZWN0PXIyCg==" is "pkcs11:token=a;object=r2\n" */
#define REF_B64 "cGtjczExOnRva2VuPWE7b2JqZWN0PXIyCg=="
#define REF     "pkcs11:token=a;object=r2"

static void test_key_ref_read(void **state)
{
    (void)state;
    char ref[MC_ROOT_SECRET_KEY_REF_MAX];
    mc_err err = {0};
    json_t *s = secret("Q0VSVA==", NULL, REF_B64);
    assert_int_equal(mc_root_secret_key_ref(s, "secret meshcert/root-ca", ref, sizeof(ref), &err),
                     1);
    assert_string_equal(ref, REF); /* the newline of a file is not part of it */
    assert_true(mc_root_secret_is_root(s));
    json_decref(s);

    s = secret("Q0VSVA==", "S0VZ", NULL);
    assert_int_equal(mc_root_secret_key_ref(s, "x", ref, sizeof(ref), &err), 0);
    json_decref(s);

    s = secret("Q0VSVA==", "S0VZ", REF_B64);
    assert_int_equal(mc_root_secret_key_ref(s, "secret meshcert/root-ca", ref, sizeof(ref), &err),
                     -1);
    assert_non_null(strstr(err.msg, "holds both key.pem and key-ref"));
    json_decref(s);

    s = secret("Q0VSVA==", NULL, "Cg=="); /* "\n" */
    assert_int_equal(mc_root_secret_key_ref(s, "x", ref, sizeof(ref), &err), -1);
    assert_non_null(strstr(err.msg, "key-ref is empty"));
    json_decref(s);

    s = secret("Q0VSVA==", NULL, "!!");
    assert_int_equal(mc_root_secret_key_ref(s, "x", ref, sizeof(ref), &err), -1);
    assert_non_null(strstr(err.msg, "not base64"));
    json_decref(s);

    s = secret("Q0VSVA==", NULL, REF_B64); /* longer than the buffer */
    assert_int_equal(mc_root_secret_key_ref(s, "x", ref, 8, &err), -1);
    json_decref(s);
}

static void test_swap_moves_the_reference(void **state)
{
    (void)state;
    /* R1 in key.pem, R2 in a token: the root Secret takes R2's reference
     * and loses R1's key */
    json_t *root = secret("UjE=", "S0VZMQ==", NULL), *next = secret("UjI=", NULL, REF_B64);
    json_t *body = mc_root_secret_with_content_of(root, next);
    assert_non_null(body);
    assert_string_equal(data_of(body, MC_ROOT_SECRET_CERT_KEY), "UjI=");
    assert_string_equal(data_of(body, MC_ROOT_SECRET_KEY_REF_KEY), REF_B64);
    assert_null(data_of(body, MC_ROOT_SECRET_KEY_KEY));
    assert_string_equal(
        json_string_value(json_object_get(json_object_get(body, "metadata"), "resourceVersion")),
        "7"); /* a conditional write */
    json_decref(body);
    /* back to a key.pem root: the reference goes */
    json_t *plain = secret("UjM=", "S0VZMw==", NULL);
    json_t *tokened = secret("UjI=", NULL, REF_B64);
    body = mc_root_secret_with_content_of(tokened, plain);
    assert_string_equal(data_of(body, MC_ROOT_SECRET_KEY_KEY), "S0VZMw==");
    assert_null(data_of(body, MC_ROOT_SECRET_KEY_REF_KEY));
    json_decref(body);
    /* a new root with neither: nothing to swap */
    json_t *keyless = secret("UjQ=", NULL, NULL);
    assert_null(mc_root_secret_with_content_of(root, keyless));
    json_decref(keyless);
    json_decref(tokened);
    json_decref(plain);
    json_decref(root);
    json_decref(next);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_key_ref_read),
        cmocka_unit_test(test_swap_moves_the_reference),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
