/* fixtures.h - models the suites make for themselves: quantized ones made from real weights, for suites that
 * need a file of each block type, and generated ones for suites that must run without ../shared.
 *
 * A fixture is written the first time a test of the run asks for it (through the public gemcl_quantize,
 * as a user would make it) into the run's fixture directory, and every later test reuses the file. main.c
 * creates that directory before the suites run and removes it after (Check forks each test, so the
 * directory, not a static variable, is what lasts the run); $GEMCL_FIXTURE_DIR names a directory to use
 * and keep instead. */
#ifndef GEMCL_TEST_FIXTURES_H
#define GEMCL_TEST_FIXTURES_H

/* Makes the run's fixture directory (unless $GEMCL_FIXTURE_DIR is set) and exports it to the tests. */
void test_fixtures_begin(void);

/* Removes the directory test_fixtures_begin made, with everything in it. */
void test_fixtures_end(void);

/* stories260K (../shared) quantized to type, a name gemcl_quantize takes ("q4_0", "q6_k", "Q4_K_M"), with
 * --pure so "q2_k" is all q2_k. Its rows (64, 172) are not whole 256-blocks, so K types fall back to
 * 32-block types (q4_k -> q5_0, ...) and ffn_down's 172-long rows to f16: use test_fixture_k256 for K
 * types. Returns the path (static storage, valid until the next call); NULL after a SKIP note when
 * stories260K is absent. Fails the test on error. */
const char *test_fixture_stories(const char *type);

/* The tiny model of tests/data/k256-card.json (2 layers, width 256, ffn 512, vocabulary 512: every row whole
 * 256-blocks) with gen-model's random weights (seed 1, f32; stories260K's tok512.bin beside it when
 * ../shared has it), quantized to type as test_fixture_stories does: K types stay K types. Needs nothing
 * from ../shared. Returns the path (static storage, valid until the next call); fails the test on error. */
const char *test_fixture_k256(const char *type);

/* A model of stories260K's shape (models/stories260K.json: 5 layers, width 64, vocabulary 512) with gen-model's
 * random weights (seed 1, f32, an HF directory; stories260K's tok512.bin beside it when ../shared has it), for
 * suites that need a model of that shape but not its trained weights: GemFilter's selection against the
 * reference runs on it when ../shared is absent instead of skipping. Needs nothing from ../shared. Returns the
 * path (static storage); fails the test on error. */
const char *test_fixture_stories_shape(void);

#endif
