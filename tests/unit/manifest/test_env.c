/* A test-local stand-in for the hosted environment (kernel-shim/hosted/
 * env_hosted.c): the five capdrv_env_* functions over calloc/free, plus the
 * control API with the hosted environment's names and semantics
 * (capdrv/shim.h: capdrv_env_hosted_new/free/fail_alloc/live_allocs), so the
 * manifest tests can switch to the real hosted environment by linking it
 * instead of this file. No locking: the tests are single-threaded. */
#include <capdrv/shim.h>
#include <capdrv_shim/env.h>

#include <stdio.h>
#include <stdlib.h>

struct capdrv_env {
    struct capdrv_env_hosted_opts opts;
    unsigned long live_allocs;
    unsigned long fail_countdown; /* 0: off; 1: fail the next allocation */
    int locked;
};

struct capdrv_env *capdrv_env_hosted_new(const struct capdrv_env_hosted_opts *opts)
{
    struct capdrv_env *env = calloc(1, sizeof *env);
    if (env && opts)
        env->opts = *opts;
    return env;
}

void capdrv_env_hosted_free(struct capdrv_env *env)
{
    free(env);
}

void capdrv_env_hosted_fail_alloc(struct capdrv_env *env, unsigned long nth)
{
    env->fail_countdown = nth;
}

unsigned long capdrv_env_hosted_live_allocs(const struct capdrv_env *env)
{
    return env->live_allocs;
}

void *capdrv_env_alloc(struct capdrv_env *env, size_t size)
{
    if (env->fail_countdown && --env->fail_countdown == 0)
        return NULL;
    void *p = calloc(1, size ? size : 1);
    if (p)
        env->live_allocs++;
    return p;
}

void capdrv_env_free(struct capdrv_env *env, void *ptr)
{
    if (!ptr)
        return;
    env->live_allocs--;
    free(ptr);
}

void capdrv_env_lock(struct capdrv_env *env)
{
    env->locked++;
}

void capdrv_env_unlock(struct capdrv_env *env)
{
    env->locked--;
}

void capdrv_env_log(struct capdrv_env *env, enum capdrv_env_log_level level, const char *event,
                    uint64_t a, uint64_t b)
{
    static const char *const names[] = {"error", "warn", "info", "debug"};
    if ((int)level > env->opts.log_level)
        return;
    char line[160];
    snprintf(line, sizeof line, "capdrv level=%s event=%s a=%llu b=%llu",
             (unsigned)level < 4 ? names[level] : "?", event, (unsigned long long)a,
             (unsigned long long)b);
    if (env->opts.log)
        env->opts.log(env->opts.log_arg, (int)level, line);
    else
        fprintf(stderr, "%s\n", line);
}
