/* Unit tests of port/queue.c. */
#include "queue.h"

#include <check.h>

struct item {
    struct queue_node node;
    int value;
};

START_TEST(test_queue_fifo_order)
{
    struct queue q = QUEUE_INIT;
    struct item items[5];
    for (int k = 0; k < 5; k++) {
        items[k].value = k;
        queue_push(&q, &items[k].node);
    }
    ck_assert_uint_eq(q.len, 5);
    for (int k = 0; k < 5; k++) {
        struct item *it = (struct item *)queue_pop(&q);
        ck_assert_ptr_nonnull(it);
        ck_assert_int_eq(it->value, k);
    }
    ck_assert_uint_eq(q.len, 0);
}
END_TEST

START_TEST(test_queue_pop_empty_is_null)
{
    struct queue q = QUEUE_INIT;
    ck_assert_ptr_null(queue_pop(&q));
    struct item a;
    queue_push(&q, &a.node);
    ck_assert_ptr_eq(queue_pop(&q), &a.node);
    ck_assert_ptr_null(queue_pop(&q));
    ck_assert_ptr_null(q.tail);
}
END_TEST

START_TEST(test_queue_push_after_drain)
{
    struct queue q = QUEUE_INIT;
    struct item a, b;
    queue_push(&q, &a.node);
    queue_pop(&q);
    queue_push(&q, &b.node);
    ck_assert_ptr_eq(q.head, &b.node);
    ck_assert_ptr_eq(q.tail, &b.node);
    ck_assert_ptr_eq(queue_pop(&q), &b.node);
}
END_TEST

START_TEST(test_queue_take_all)
{
    struct queue q = QUEUE_INIT;
    struct item items[3];
    for (int k = 0; k < 3; k++)
        queue_push(&q, &items[k].node);
    struct queue_node *all = queue_take_all(&q);
    ck_assert_ptr_eq(all, &items[0].node);
    ck_assert_ptr_eq(all->next->next, &items[2].node);
    ck_assert_ptr_null(all->next->next->next);
    ck_assert_uint_eq(q.len, 0);
    ck_assert_ptr_null(queue_pop(&q));
}
END_TEST

int main(void)
{
    Suite *s = suite_create("queue");
    TCase *tc = tcase_create("queue");
    tcase_add_test(tc, test_queue_fifo_order);
    tcase_add_test(tc, test_queue_pop_empty_is_null);
    tcase_add_test(tc, test_queue_push_after_drain);
    tcase_add_test(tc, test_queue_take_all);
    suite_add_tcase(s, tc);
    SRunner *sr = srunner_create(s);
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed == 0 ? 0 : 1;
}
