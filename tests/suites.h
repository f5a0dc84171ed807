/* suites.h - every Check suite of gemcl-tests, in the order they run. */
#ifndef GEMCL_TEST_SUITES_H
#define GEMCL_TEST_SUITES_H

#include <check.h>

Suite *suite_runtime(void);
Suite *suite_tokenizer(void);

#define GEMCL_SUITES \
    X(runtime) \
    X(tokenizer)

#endif
