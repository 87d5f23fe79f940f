/* Unit tests of port/queue.c. */
#include "check_main.h"
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

static int is_odd(const struct queue_node *n, const void *arg)
{
    (void)arg;
    return ((const struct item *)n)->value % 2 == 1;
}

START_TEST(test_queue_remove_if_keeps_order)
{
    struct queue q = QUEUE_INIT;
    struct item items[6];
    for (int k = 0; k < 6; k++) {
        items[k].value = k;
        queue_push(&q, &items[k].node);
    }
    struct queue_node *odd = queue_remove_if(&q, is_odd, NULL);
    ck_assert_ptr_eq(odd, &items[1].node);
    ck_assert_ptr_eq(odd->next, &items[3].node);
    ck_assert_ptr_eq(odd->next->next, &items[5].node);
    ck_assert_ptr_null(odd->next->next->next);
    ck_assert_uint_eq(q.len, 3);
    ck_assert_ptr_eq(q.tail, &items[4].node);
    for (int k = 0; k < 6; k += 2)
        ck_assert_ptr_eq(queue_pop(&q), &items[k].node);
    ck_assert_ptr_null(queue_pop(&q));
    ck_assert_ptr_null(queue_remove_if(&q, is_odd, NULL));
    ck_assert_ptr_null(q.tail);
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
    tcase_add_test(tc, test_queue_remove_if_keeps_order);
    suite_add_tcase(s, tc);
    return check_run(s);
}
