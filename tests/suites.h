/* suites.h - every Check suite of gemcl-tests: one X(name) line per suite in suites.def, in run order;
 * each suite file defines Suite *suite_<name>(void). */
#ifndef GEMCL_TEST_SUITES_H
#define GEMCL_TEST_SUITES_H

#include <check.h>

#define X(name) Suite *suite_##name(void);
#include "suites.def"
#undef X

#endif
