/* fixtures.c - generated and quantized model fixtures, once per run; see fixtures.h. */
#define _POSIX_C_SOURCE 200809L
#include "fixtures.h"

#include <check.h>
#include <ctype.h>
#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "gemcl.h"
#include "harness.h"

#define FIXTURE_ENV "GEMCL_FIXTURE_DIR"

static char made_dir[256]; /* the directory test_fixtures_begin made ("" when the user named one) */

void test_fixtures_begin(void) {
    const char *given = getenv(FIXTURE_ENV);
    if (given && *given)
        return;
    snprintf(made_dir, sizeof made_dir, "/tmp/gemcl-fixtures-XXXXXX");
    if (!mkdtemp(made_dir)) {
        made_dir[0] = '\0'; /* fixtures then fail with a message naming the missing directory */
        return;
    }
    setenv(FIXTURE_ENV, made_dir, 1);
}

static void remove_tree(const char *dir) {
    DIR *d = opendir(dir);
    if (d) {
        struct dirent *e;
        char path[4096];
        while ((e = readdir(d))) {
            if (strcmp(e->d_name, ".") == 0 || strcmp(e->d_name, "..") == 0)
                continue;
            snprintf(path, sizeof path, "%s/%s", dir, e->d_name);
            if (unlink(path) != 0)
                remove_tree(path);
        }
        closedir(d);
    }
    rmdir(dir);
}

void test_fixtures_end(void) {
    if (made_dir[0])
        remove_tree(made_dir);
    made_dir[0] = '\0';
}

static const char *fixture_dir(void) {
    const char *d = getenv(FIXTURE_ENV);
    ck_assert_msg(d && *d, "no fixture directory: main.c calls test_fixtures_begin, or set " FIXTURE_ENV);
    return d;
}

static bool exists(const char *path) {
    struct stat st;
    return stat(path, &st) == 0;
}

/* dir/<prefix>-<type>.gguf, the type lower-cased (names are case-insensitive), into out. */
static void fixture_path(char *out, size_t len, const char *prefix, const char *type) {
    char name[64];
    size_t i = 0;
    for (; type[i] && i + 1 < sizeof name; i++)
        name[i] = (char)tolower((unsigned char)type[i]);
    name[i] = '\0';
    snprintf(out, len, "%s/%s-%s.gguf", fixture_dir(), prefix, name);
}

/* Quantizes the model at src to out (pure) unless out exists; the write is atomic, so a file that exists
 * is whole. */
static void quantize_once(const char *src, const char *out, const char *type) {
    if (exists(out))
        return;
    gemcl_quantize_params p = gemcl_quantize_default_params();
    p.pure = 1;
    char err[4096];
    ck_assert_msg(gemcl_quantize(src, out, type, &p, err, sizeof err) == GEMCL_OK, "fixture %s: %s", out, err);
}

const char *test_fixture_stories(const char *type) {
    static char path[4096];
    const char *rel = "models/stories260K/stories260K.bin", *src = test_shared_path(rel);
    if (test_skip_if_missing(src, rel))
        return NULL;
    fixture_path(path, sizeof path, "stories260K", type);
    quantize_once(src, path, type);
    return path;
}

/* The f32 HF directory of a card's model (gen-model's random weights, seed 1; stories260K's tok512.bin beside
 * it when ../shared has it), generated once as dir/<name>-f32: written beside its final name and renamed, so
 * a directory that exists is whole. */
static const char *generated_source(const char *card, const char *name, char *dir, size_t len) {
    snprintf(dir, len, "%s/%s-f32", fixture_dir(), name);
    if (exists(dir))
        return dir;
    char tmp[4200], err[4096];
    snprintf(tmp, sizeof tmp, "%s.tmp.%ld", dir, (long)getpid());
    const char *tok = test_shared_path("models/stories260K/tok512.bin");
    gemcl_status st = gemcl_gen_model(card, 1, GEMCL_WEIGHT_DTYPE_F32, tok, tmp, err, sizeof err);
    ck_assert_msg(st == GEMCL_OK, "fixture %s: %s", dir, err);
    ck_assert_msg(rename(tmp, dir) == 0, "fixture %s: cannot rename %s into place", dir, tmp);
    return dir;
}

static const char *k256_source(void) {
    static char dir[4096];
    return generated_source(GEMCL_SOURCE_DIR "/tests/data/k256-card.json", "k256", dir, sizeof dir);
}

const char *test_fixture_stories_shape(void) {
    static char dir[4096];
    return generated_source(GEMCL_SOURCE_DIR "/models/stories260K.json", "stories260K-shape", dir, sizeof dir);
}

const char *test_fixture_k256(const char *type) {
    static char path[4096];
    const char *src = k256_source();
    fixture_path(path, sizeof path, "k256", type);
    quantize_once(src, path, type);
    return path;
}
