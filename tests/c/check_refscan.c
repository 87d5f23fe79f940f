/* Unit tests of port/refscan.c: the first reference of a request body. */
#include "check_main.h"
#include "refscan.h"

#include <check.h>
#include <ei.h>

static ei_x_buff x;

static void setup(void)
{
    ei_x_new(&x);
}

static void teardown(void)
{
    ei_x_free(&x);
}

static void encode_ref(unsigned long long nonce, long id)
{
    ei_x_encode_tuple_header(&x, 3);
    ei_x_encode_atom(&x, "$py_ref");
    ei_x_encode_ulonglong(&x, nonce);
    ei_x_encode_long(&x, id);
}

static int scan(unsigned long long *nonce)
{
    return refscan_first(x.buff, (size_t)x.index, 0, nonce);
}

START_TEST(test_refscan_finds_a_target_reference)
{
    unsigned long long nonce = 0;
    encode_ref(0xABCDEF123456ULL, 1); /* call_method: Module is the reference */
    ei_x_encode_atom(&x, "hexdigest");
    ei_x_encode_empty_list(&x);
    ck_assert_int_eq(scan(&nonce), 1);
    ck_assert_uint_eq(nonce, 0xABCDEF123456ULL);
}
END_TEST

START_TEST(test_refscan_finds_a_reference_deep_in_arguments)
{
    unsigned long long nonce = 0;
    ei_x_encode_atom(&x, "m");
    ei_x_encode_atom(&x, "f");
    ei_x_encode_list_header(&x, 2);
    ei_x_encode_long(&x, 1);
    ei_x_encode_map_header(&x, 1);
    ei_x_encode_atom(&x, "k");
    ei_x_encode_list_header(&x, 1);
    encode_ref(77, 5);
    ei_x_encode_empty_list(&x);
    ei_x_encode_empty_list(&x);
    ei_x_encode_map_header(&x, 0);
    ck_assert_int_eq(scan(&nonce), 1);
    ck_assert_uint_eq(nonce, 77);
}
END_TEST

START_TEST(test_refscan_no_reference)
{
    unsigned long long nonce = 0;
    ei_x_encode_atom(&x, "math");
    ei_x_encode_atom(&x, "sqrt");
    ei_x_encode_list_header(&x, 1);
    ei_x_encode_tuple_header(&x, 3); /* a 3-tuple, not a reference */
    ei_x_encode_atom(&x, "py_ref");
    ei_x_encode_long(&x, 1);
    ei_x_encode_long(&x, 2);
    ei_x_encode_empty_list(&x);
    ei_x_encode_map_header(&x, 0);
    ck_assert_int_eq(scan(&nonce), 0);
}
END_TEST

START_TEST(test_refscan_truncated_and_deep_terms_are_not_followed)
{
    unsigned long long nonce = 0;
    ei_x_encode_list_header(&x, 3);
    encode_ref(9, 1);
    ck_assert_int_eq(refscan_first(x.buff, (size_t)x.index - 1, 0, &nonce), 0);
    x.index = 0;
    for (int k = 0; k < 2000; k++) /* deeper than ENVELOPE_MAX_DEPTH */
        ei_x_encode_list_header(&x, 1);
    encode_ref(9, 1);
    ck_assert_int_eq(scan(&nonce), 0);
    x.index = 0;
    ei_x_encode_list_header(&x, 1000000); /* a count the bytes cannot hold */
    ei_x_encode_long(&x, 1);
    ck_assert_int_eq(scan(&nonce), 0);
}
END_TEST

int main(void)
{
    Suite *s = suite_create("refscan");
    TCase *tc = tcase_create("refscan");
    tcase_add_checked_fixture(tc, setup, teardown);
    tcase_add_test(tc, test_refscan_finds_a_target_reference);
    tcase_add_test(tc, test_refscan_finds_a_reference_deep_in_arguments);
    tcase_add_test(tc, test_refscan_no_reference);
    tcase_add_test(tc, test_refscan_truncated_and_deep_terms_are_not_followed);
    suite_add_tcase(s, tc);
    return check_run(s);
}
