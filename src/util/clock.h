/* clock.h - the one clock gemcl times anything with: monotonic (never steps with the wall clock), in
 * milliseconds as a double (sub-microsecond resolution, no overflow for centuries). The public
 * gemcl_time_us() reads the same clock, so a tool's timings and the library's add up. */
#ifndef GC_UTIL_CLOCK_H
#define GC_UTIL_CLOCK_H

/* Milliseconds since an arbitrary fixed point (CLOCK_MONOTONIC's); only differences mean anything. */
double gc_now_ms(void);

#endif
