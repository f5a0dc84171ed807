/* main.c - runs every suite of tests/suites.h (or the one named by CK_RUN_SUITE) and ends with Check's
 * summary line. Exit status 0 only when nothing failed. The quantized fixtures (fixtures.h) live for the run. */
#include <stdlib.h>

#include "fixtures.h"
#include "suites.h"

int main(void) {
    SRunner *sr = srunner_create(NULL);
#define X(name) srunner_add_suite(sr, suite_##name());
#include "suites.def"
#undef X
    test_fixtures_begin();
    srunner_run_all(sr, CK_NORMAL);
    test_fixtures_end();
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
