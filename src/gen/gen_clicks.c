/*
 * gen_clicks.c - the clickstream model of the generator (see gen.h).
 *
 * Users browse in sessions.  A session belongs to one user and one
 * category and walks a small funnel: it views items of the category, clicks
 * some of those it viewed, adds some clicked ones to the cart and buys some
 * of those in the cart, until its steps run out (an abandoned cart is
 * common) or, often, right after a purchase.  Its purchase chances grow
 * with its intent: the user's base propensity (per user, from a hash, so
 * users who bought before buy again), weaker outside the user's favourite
 * categories, and rising with every view and cart of the session.  So the
 * last minutes of a user x category (views, carts) and the user's past
 * purchases predict a purchase soon: what the personalization example's
 * views measure.
 *
 * Open sessions live in a binary min-heap on (due time, opening order), at
 * most MAX_SESSIONS: an event continues the session due soonest if it is
 * due, else opens a session, else (all slots taken) continues the one due
 * soonest anyway.  Users, items and their popularity are Zipf draws;
 * nothing per user or item is stored.  Item i belongs to category
 * (i - 1) mod NCATS.
 */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "core/err.h"
#include "core/hash.h"
#include "gen/gen_model.h"

#define MAX_SESSIONS 4096
#define STEPS_MIN 2 /* events per session: STEPS_MIN .. STEPS_MAX */
#define STEPS_MAX 24
#define GAP_MIN_MS 3000 /* between two events of a session */
#define GAP_SPAN_MS 57000
#define P_FAV_SESSION 0.8 /* sessions in one of the user's favourite categories */
#define FAV_CATS 3
#define OTHER_INTENT 0.35 /* intent outside the favourites, relative */
#define P_CLICK 0.3       /* a step clicks the item last viewed */
#define P_END_AFTER_BUY 0.5

static const struct {
    const char *name;
    uint16_t weight;
} cats[] = {
    {"electronics", 14}, {"fashion", 16}, {"home", 12}, {"books", 10},
    {"beauty", 9},       {"sports", 8},   {"toys", 7},  {"grocery", 8},
    {"garden", 5},       {"music", 4},    {"games", 5}, {"auto", 2},
};
#define NCATS (sizeof cats / sizeof cats[0])

enum { EV_VIEW, EV_CLICK, EV_CART, EV_PURCHASE };
static const char *const ev_names[] = {"view", "click", "add_to_cart", "purchase"};

typedef struct session {
    int64_t due_ms;
    uint64_t seq;  /* opening order: breaks ties in due_ms */
    uint64_t user;
    uint64_t item; /* the item viewed last (0 before the first view) */
    uint64_t cart; /* the item added to the cart last, 0 when none */
    double intent;
    uint8_t cat, left, views, carts, clicked;
} session_t;

struct clicks {
    uint64_t salt, items, per_cat;
    int64_t jitter_ms;
    zipf_t zuser, zitem;
    uint16_t cum[NCATS], total;
    session_t *heap;
    size_t n;
    uint64_t seq;
};

/* ---- the session heap ---- */

static int before(const session_t *a, const session_t *b)
{
    return a->due_ms < b->due_ms || (a->due_ms == b->due_ms && a->seq < b->seq);
}

static void sift_up(clicks_t *c, size_t i)
{
    session_t s = c->heap[i];
    while (i > 0) {
        size_t up = (i - 1) / 2;
        if (!before(&s, &c->heap[up]))
            break;
        c->heap[i] = c->heap[up];
        i = up;
    }
    c->heap[i] = s;
}

static void sift_down(clicks_t *c, size_t i)
{
    session_t s = c->heap[i];
    for (;;) {
        size_t k = 2 * i + 1;
        if (k >= c->n)
            break;
        if (k + 1 < c->n && before(&c->heap[k + 1], &c->heap[k]))
            k++;
        if (!before(&c->heap[k], &s))
            break;
        c->heap[i] = c->heap[k];
        i = k;
    }
    c->heap[i] = s;
}

/* ---- users and items ---- */

static unsigned pick_cat(const clicks_t *c, double u)
{
    unsigned r = (unsigned)(u * c->total), i = 0;
    while (i < NCATS - 1 && r >= c->cum[i])
        i++;
    return i;
}

/* Opens a session for a user drawn by activity, in slot c->n. */
static void session_open(clicks_t *c, rng_t *r, session_t *s)
{
    memset(s, 0, sizeof *s);
    s->seq = c->seq++;
    s->user = zipf_main(r, &c->zuser);
    uint64_t st = fr_mix64(c->salt ^ fr_mix64(s->user ^ 0x2545f4914f6cdd1dull));
    /* base propensity, log-uniform over 0.03 .. 0.5 */
    double base = exp(-3.506557897319982 + u01(splitmix64(&st)) * 2.8134107167600364);
    unsigned nfav = 1 + (unsigned)below(splitmix64(&st), FAV_CATS);
    unsigned fav[FAV_CATS];
    for (unsigned j = 0; j < nfav; j++)
        fav[j] = pick_cat(c, u01(splitmix64(&st)));
    if (unif(r) < P_FAV_SESSION) {
        s->cat = (uint8_t)fav[below(next64(r), nfav)];
        s->intent = base;
    } else {
        s->cat = (uint8_t)pick_cat(c, unif(r));
        s->intent = base * OTHER_INTENT;
        for (unsigned j = 0; j < nfav; j++)
            if (fav[j] == s->cat)
                s->intent = base;
    }
    s->left = (uint8_t)(STEPS_MIN + below(next64(r), STEPS_MAX - STEPS_MIN + 1));
}

static uint64_t view_item(clicks_t *c, rng_t *r, unsigned cat)
{
    uint64_t z = zipf_main(r, &c->zitem); /* 1 .. per_cat */
    return (z - 1) * NCATS + cat + 1;
}

/* One step of session s: the event's type and item. */
static int step(clicks_t *c, rng_t *r, session_t *s, uint64_t *item)
{
    double in = s->intent * (1.0 + 0.15 * s->views + 0.6 * s->carts);
    if (in > 0.95)
        in = 0.95;
    if (s->cart && unif(r) < 0.5 * in) {
        *item = s->cart;
        s->cart = 0;
        return EV_PURCHASE;
    }
    if (s->clicked && unif(r) < 0.6 * in) {
        *item = s->cart = s->item;
        s->carts++;
        s->clicked = 0;
        return EV_CART;
    }
    if (s->item && unif(r) < P_CLICK) {
        *item = s->item;
        s->clicked = 1;
        return EV_CLICK;
    }
    *item = s->item = view_item(c, r, s->cat);
    s->clicked = 0;
    if (s->views < 255)
        s->views++;
    return EV_VIEW;
}

static int emit(fr_buf_t *out, uint64_t user, uint64_t item, unsigned cat, int type, int64_t ts)
{
    char line[FR_GEN_MAX_EVENT];
    char *p = line;
    p = PUT(p, "{\"user_id\":\"u");
    char *u0 = p;
    p = put_u64(p, user, 6);
    size_t ulen = (size_t)(p - u0);
    p = PUT(p, "\",\"item_id\":\"i");
    p = put_u64(p, item, 6);
    p = PUT(p, "\",\"category\":\"");
    size_t clen = strlen(cats[cat].name);
    p = put_str(p, cats[cat].name, clen);
    p = PUT(p, "\",\"event_type\":\"");
    p = put_str(p, ev_names[type], strlen(ev_names[type]));
    p = PUT(p, "\",\"user_category\":\"u");
    p = put_str(p, u0, ulen);
    *p++ = ':';
    p = put_str(p, cats[cat].name, clen);
    p = PUT(p, "\",\"ts\":");
    p = put_i64(p, ts);
    *p++ = '}';
    FR_ASSERT(p <= line + sizeof line);
    return fr_buf_add(out, line, (size_t)(p - line));
}

clicks_t *fr_gen_clicks_new(const fr_gen_opts_t *o, uint64_t salt)
{
    if (o->items < NCATS)
        return NULL;
    clicks_t *c = calloc(1, sizeof *c);
    if (!c)
        return NULL;
    c->heap = calloc(MAX_SESSIONS, sizeof *c->heap);
    if (!c->heap) {
        free(c);
        return NULL;
    }
    c->salt = salt;
    c->items = o->items;
    c->per_cat = o->items / NCATS;
    c->jitter_ms = o->jitter_ms;
    zipf_init(&c->zuser, o->users, (double)o->users / 2000.0);
    zipf_init(&c->zitem, c->per_cat, (double)c->per_cat / 500.0);
    unsigned sum = 0;
    for (size_t i = 0; i < NCATS; i++) {
        sum += cats[i].weight;
        c->cum[i] = (uint16_t)sum;
    }
    c->total = (uint16_t)sum;
    return c;
}

void fr_gen_clicks_free(clicks_t *c)
{
    if (!c)
        return;
    free(c->heap);
    free(c);
}

int fr_gen_clicks_next(clicks_t *c, rng_t *r, int64_t now_ms, fr_buf_t *out)
{
    int64_t ts, jitter = (int64_t)below(next64(r), (uint64_t)c->jitter_ms + 1);
    if (__builtin_sub_overflow(now_ms, jitter, &ts))
        ts = INT64_MIN;
    size_t i;
    if (c->n && (c->heap[0].due_ms <= now_ms || c->n == MAX_SESSIONS)) {
        i = 0; /* due, or no slot left */
    } else {
        i = c->n++;
        session_open(c, r, &c->heap[i]);
    }
    session_t *s = &c->heap[i];
    uint64_t item;
    int type = step(c, r, s, &item);
    unsigned cat = s->cat;
    uint64_t user = s->user;
    int over = --s->left == 0 || (type == EV_PURCHASE && unif(r) < P_END_AFTER_BUY);
    if (over) {
        c->heap[i] = c->heap[--c->n];
        if (i < c->n) {
            sift_down(c, i);
            sift_up(c, i);
        }
    } else {
        int64_t gap = GAP_MIN_MS + (int64_t)below(next64(r), GAP_SPAN_MS);
        if (__builtin_add_overflow(now_ms, gap, &s->due_ms))
            s->due_ms = INT64_MAX;
        sift_down(c, i);
        sift_up(c, i);
    }
    return emit(out, user, item, cat, type, ts);
}
