/* graph.c - nodes and flat/cum accumulation, after google/pprof's graph.go. */
#include "graph.h"

#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "profile.h"

const char *path_clean(struct arena *a, const char *path)
{
	size_t n = strlen(path);
	if (n == 0)
		return ".";
	char *out = arena_alloc(a, n + 2);
	if (!out)
		return NULL;
	bool rooted = path[0] == '/';
	size_t r = 0, w = 0, dotdot = 0;
	if (rooted) {
		out[w++] = '/';
		r = dotdot = 1;
	}
	while (r < n) {
		if (path[r] == '/') {
			r++;
		} else if (path[r] == '.' && (r + 1 == n || path[r + 1] == '/')) {
			r++;
		} else if (path[r] == '.' && path[r + 1] == '.' && (r + 2 == n || path[r + 2] == '/')) {
			r += 2;
			if (w > dotdot) {
				w--;
				while (w > dotdot && out[w] != '/')
					w--;
			} else if (!rooted) {
				if (w > 0)
					out[w++] = '/';
				out[w++] = '.';
				out[w++] = '.';
				dotdot = w;
			}
		} else {
			if ((rooted && w != 1) || (!rooted && w != 0))
				out[w++] = '/';
			for (; r < n && path[r] != '/'; r++)
				out[w++] = path[r];
		}
	}
	if (w == 0)
		out[w++] = '.';
	out[w] = '\0';
	return out;
}

static const char *base_name(const char *path)
{
	const char *s = strrchr(path, '/');
	return s && s[1] ? s + 1 : path;
}

struct node_key {
	const char *name, *file, *objfile;
	int64_t lineno, start_line;
	uint64_t address;
};

/* pprof's NodeInfo for one line of a location, once the profile has been
 * aggregated at the granularity (profile.Aggregate: what the granularity
 * does not show is zeroed). */
static int node_key(struct graph *g, const struct profile_location *l,
		    const struct profile_line *ln, unsigned mode,
		    const char *(*filename_fn)(struct arena *, const char *, void *), void *fn_data,
		    struct node_key *k)
{
	unsigned gran = mode & GRAPH_GRANULARITY;
	const char *objfile = l->mapping ? l->mapping->filename : "";
	memset(k, 0, sizeof(*k));
	k->name = k->file = k->objfile = "";
	if (gran == GRAPH_ADDRESSES)
		k->address = l->address;
	if (!ln || !ln->function) {
		k->objfile = objfile;
		return 0;
	}
	const struct profile_function *f = ln->function;
	if (gran != GRAPH_FILES)
		k->name = f->name;
	if (gran == GRAPH_LINES || gran == GRAPH_ADDRESSES)
		k->lineno = ln->line;
	if (gran != GRAPH_FUNCTIONS && *f->filename) {
		const char *fn = filename_fn ? filename_fn(&g->arena, f->filename, fn_data)
					     : f->filename;
		if (!fn || !(k->file = path_clean(&g->arena, fn)))
			return -ENOMEM;
	}
	if ((mode & GRAPH_OBJNAMES) || !*k->name) {
		k->objfile = objfile;
		k->start_line = f->start_line;
	}
	return 0;
}

static const char *printable_name(struct arena *a, const struct node_key *k)
{
	const char *extra = NULL;
	if (k->lineno) {
		size_t n = strlen(k->file) + 32;
		char *s = arena_alloc(a, n);
		if (!s)
			return NULL;
		snprintf(s, n, "%s:%" PRId64, k->file, k->lineno);
		extra = s;
	} else if (*k->file) {
		extra = k->file;
	} else if (*k->name) {
		extra = NULL;
	} else if (*k->objfile) {
		size_t n = strlen(base_name(k->objfile)) + 3;
		char *s = arena_alloc(a, n);
		if (!s)
			return NULL;
		snprintf(s, n, "[%s]", base_name(k->objfile));
		extra = s;
	} else {
		extra = "<unknown>";
	}
	char addr[20] = "";
	if (k->address)
		snprintf(addr, sizeof(addr), "%016" PRIx64 " ", k->address);
	if (!*k->name && !*addr)
		return extra;
	if (!extra && !*addr)
		return k->name;
	size_t n = strlen(addr) + strlen(k->name) + (extra ? strlen(extra) : 0) + 2;
	char *s = arena_alloc(a, n);
	if (!s)
		return NULL;
	snprintf(s, n, "%s%s%s%s", addr, k->name, *k->name && extra ? " " : "", extra ? extra : "");
	return s;
}

static uint64_t key_hash(const struct node_key *k)
{
	uint64_t h = hash_bytes(k->name, strlen(k->name), 1);
	h = hash_bytes(k->file, strlen(k->file), h);
	h = hash_bytes(k->objfile, strlen(k->objfile), h);
	return hash_u64(h ^ hash_u64((uint64_t)k->lineno) ^ ((uint64_t)k->start_line << 1) ^
			hash_u64(k->address + 1));
}

struct node_want {
	const struct graph *g;
	const struct node_key *k;
};

static bool same_node(uint64_t value, const void *ctx)
{
	const struct node_want *w = ctx;
	const struct graph_node *n = &w->g->node[value];
	const struct node_key *k = w->k;
	return n->lineno == k->lineno && n->start_line == k->start_line &&
	       n->address == k->address &&
	       strcmp(n->name, k->name) == 0 && strcmp(n->file, k->file) == 0 &&
	       strcmp(n->objfile, k->objfile) == 0;
}

int graph_init(struct graph *g, const struct profile *p, unsigned mode,
	       const char *(*filename_fn)(struct arena *, const char *, void *), void *fn_data)
{
	struct hashmap index = HASHMAP_INIT;	/* key hash (+ probe) -> node */
	size_t cap = 0, total = 0;
	int rc = -ENOMEM;

	memset(g, 0, sizeof(*g));
	bool noinlines = mode & GRAPH_NOINLINES;
	for (size_t i = 0; i < p->n_location; i++)
		total += p->location[i]->n_line && !noinlines ? p->location[i]->n_line : 1;
	g->loc_first = malloc((p->n_location + 1) * sizeof(*g->loc_first));
	g->loc_nodes = malloc((total ? total : 1) * sizeof(*g->loc_nodes));
	if (!g->loc_first || !g->loc_nodes)
		goto out;

	size_t at = 0;
	for (size_t i = 0; i < p->n_location; i++) {
		const struct profile_location *l = p->location[i];
		/* -noinlines: the outermost frame only (the caller's line) */
		size_t nl = l->n_line ? l->n_line : 1, first = noinlines ? nl - 1 : 0;
		g->loc_first[i] = at;
		for (size_t j = first; j < nl; j++) {
			struct node_key k;
			if (node_key(g, l, l->n_line ? &l->line[j] : NULL, mode, filename_fn,
				     fn_data, &k) < 0)
				goto out;
			struct node_want w = { g, &k };
			uint64_t key;
			bool inserted;
			uint64_t *slot = hashmap_probe(&index, key_hash(&k), same_node, &w, &inserted,
						       &key);
			if (!slot)
				goto out;
			if (inserted) {
				if (array_grow(&g->node, &cap, g->n_node, sizeof(*g->node)) < 0)
					goto out;
				struct graph_node *n = &g->node[g->n_node];
				memset(n, 0, sizeof(*n));
				n->name = k.name;
				n->file = k.file;
				n->objfile = k.objfile;
				n->lineno = k.lineno;
				n->start_line = k.start_line;
				n->address = k.address;
				if (!(n->printable = printable_name(&g->arena, &k)))
					goto out;
				*slot = g->n_node++;
			}
			g->loc_nodes[at++] = (uint32_t)*slot;
		}
	}
	g->loc_first[p->n_location] = at;
	rc = 0;
out:
	hashmap_release(&index);
	if (rc < 0)
		graph_release(g);
	return rc;
}

static int add_edge(struct graph *g, uint32_t src, uint32_t dst, int64_t w, bool is_inline)
{
	bool inserted;
	uint64_t *slot = hashmap_put(&g->edge_index, (uint64_t)src << 32 | dst, &inserted);
	if (!slot)
		return -ENOMEM;
	if (inserted) {
		if (array_grow(&g->edge, &g->cap_edge, g->n_edge, sizeof(*g->edge)) < 0)
			return -ENOMEM;
		g->edge[g->n_edge] = (struct graph_edge){ src, dst, 0, is_inline, 0 };
		*slot = g->n_edge++;
	}
	struct graph_edge *e = &g->edge[*slot];
	if (e->stamp == g->stamp)
		return 0;	/* counted once per sample */
	e->stamp = g->stamp;
	e->weight += w;
	if (!is_inline)
		e->is_inline = false;
	return 0;
}

int graph_accumulate(struct graph *g, const struct profile *p, int value_index,
		     const bool *kept, bool edges)
{
	for (size_t i = 0; i < g->n_node; i++) {
		g->node[i].flat = g->node[i].cum = 0;
		g->node[i].stamp = 0;
	}
	hashmap_release(&g->edge_index);
	g->n_edge = 0;
	g->stamp = 0;

	for (size_t si = 0; si < p->n_sample; si++) {
		const struct profile_sample *s = &p->sample[si];
		int64_t w = s->value[value_index];
		if (w == 0)
			continue;
		g->stamp++;
		int64_t parent = -1;
		bool residual = false;
		/* from the root (last location, last line) down to the leaf */
		for (size_t i = s->n_location; i-- > 0;) {
			uint32_t li = s->location[i]->index;
			size_t first = g->loc_first[li], n = g->loc_first[li + 1] - first;
			for (size_t ni = n; ni-- > 0;) {
				uint32_t id = g->loc_nodes[first + ni];
				if (kept && !kept[id]) {
					residual = true;
					continue;
				}
				struct graph_node *node = &g->node[id];
				if (node->stamp != g->stamp) {	/* recursion counts once */
					node->stamp = g->stamp;
					node->cum += w;
				}
				if (edges && parent >= 0 && (uint32_t)parent != id &&
				    add_edge(g, (uint32_t)parent, id, w, ni != n - 1) < 0)
					return -ENOMEM;
				parent = id;
				residual = false;
			}
		}
		if (parent >= 0 && !residual)
			g->node[parent].flat += w;
	}
	return 0;
}

void graph_mark_inline(struct graph *g, int64_t cutoff)
{
	for (size_t i = 0; i < g->n_node; i++)
		g->node[i].inline_in = g->node[i].noinline_in = false;
	for (size_t i = 0; i < g->n_edge; i++) {
		const struct graph_edge *e = &g->edge[i];
		if (llabs(e->weight) < cutoff)
			continue;
		if (e->is_inline)
			g->node[e->dst].inline_in = true;
		else
			g->node[e->dst].noinline_in = true;
	}
}

void graph_release(struct graph *g)
{
	free(g->node);
	free(g->loc_nodes);
	free(g->loc_first);
	free(g->edge);
	hashmap_release(&g->edge_index);
	arena_release(&g->arena);
	memset(g, 0, sizeof(*g));
}
