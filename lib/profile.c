/* profile.c - construction of the profile model. */
#include "profile.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

struct profile *profile_new(void)
{
	struct profile *p = calloc(1, sizeof(*p));
	if (!p)
		return NULL;
	p->drop_frames = p->keep_frames = p->default_sample_type = "";
	p->period_type.type = p->period_type.unit = "";
	return p;
}

void profile_free(struct profile *p)
{
	if (!p)
		return;
	free(p->sample);
	free(p->mapping);
	free(p->location);
	free(p->function);
	free(p->comment);
	hashmap_release(&p->strings);
	arena_release(&p->arena);
	free(p);
}

const char *profile_intern_n(struct profile *p, const char *s, size_t len)
{
	return hashmap_intern(&p->strings, &p->arena, s, len);
}

const char *profile_intern(struct profile *p, const char *s)
{
	return profile_intern_n(p, s, strlen(s));
}

int profile_set_sample_types(struct profile *p, size_t n, const char *const *types,
			     const char *const *units)
{
	p->sample_type = arena_calloc(&p->arena, n, sizeof(*p->sample_type));
	if (!p->sample_type && n)
		return -ENOMEM;
	for (size_t i = 0; i < n; i++) {
		p->sample_type[i].type = profile_intern(p, types[i]);
		p->sample_type[i].unit = profile_intern(p, units[i]);
		if (!p->sample_type[i].type || !p->sample_type[i].unit)
			return -ENOMEM;
	}
	p->n_sample_type = n;
	return 0;
}

struct profile_mapping *profile_add_mapping(struct profile *p, uint64_t id)
{
	struct profile_mapping *m;
	if (array_grow(&p->mapping, &p->cap_mapping, p->n_mapping, sizeof(*p->mapping)) < 0 ||
	    !(m = arena_alloc(&p->arena, sizeof(*m))))
		return NULL;
	m->id = id;
	m->filename = m->build_id = "";
	p->mapping[p->n_mapping++] = m;
	return m;
}

struct profile_function *profile_add_function(struct profile *p, uint64_t id)
{
	struct profile_function *f;
	if (array_grow(&p->function, &p->cap_function, p->n_function, sizeof(*p->function)) < 0 ||
	    !(f = arena_alloc(&p->arena, sizeof(*f))))
		return NULL;
	f->id = id;
	f->name = f->system_name = f->filename = "";
	p->function[p->n_function++] = f;
	return f;
}

struct profile_location *profile_add_location(struct profile *p, uint64_t id, size_t n_line)
{
	struct profile_location *l;
	if (p->n_location >= UINT32_MAX ||
	    array_grow(&p->location, &p->cap_location, p->n_location, sizeof(*p->location)) < 0 ||
	    !(l = arena_alloc(&p->arena, sizeof(*l))))
		return NULL;
	if (n_line && !(l->line = arena_calloc(&p->arena, n_line, sizeof(*l->line))))
		return NULL;
	l->id = id;
	l->n_line = n_line;
	l->index = (uint32_t)p->n_location;
	p->location[p->n_location++] = l;
	return l;
}

struct profile_sample *profile_add_sample(struct profile *p, size_t n_location, size_t n_label)
{
	if (array_grow(&p->sample, &p->cap_sample, p->n_sample, sizeof(*p->sample)) < 0)
		return NULL;
	struct profile_sample *s = &p->sample[p->n_sample];
	memset(s, 0, sizeof(*s));
	s->value = arena_calloc(&p->arena, p->n_sample_type, sizeof(*s->value));
	s->location = arena_calloc(&p->arena, n_location, sizeof(*s->location));
	s->label = arena_calloc(&p->arena, n_label, sizeof(*s->label));
	if ((!s->value && p->n_sample_type) || (!s->location && n_location) ||
	    (!s->label && n_label))
		return NULL;
	s->n_location = n_location;
	s->n_label = n_label;
	for (size_t i = 0; i < n_label; i++)
		s->label[i].key = s->label[i].str = s->label[i].num_unit = "";
	p->n_sample++;
	return s;
}

int profile_add_comment(struct profile *p, const char *comment)
{
	const char *c = profile_intern(p, comment);
	if (!c || array_grow(&p->comment, &p->cap_comment, p->n_comment, sizeof(*p->comment)) < 0)
		return -ENOMEM;
	p->comment[p->n_comment++] = c;
	return 0;
}

int profile_sample_index(const struct profile *p, const char *name)
{
	if (!name || !*name) {
		if (*p->default_sample_type)
			for (size_t i = 0; i < p->n_sample_type; i++)
				if (strcmp(p->sample_type[i].type, p->default_sample_type) == 0)
					return (int)i;
		return (int)p->n_sample_type - 1;
	}
	char *end;
	errno = 0;
	long n = strtol(name, &end, 10);
	if (*end == '\0' && !errno)
		return n >= 0 && (size_t)n < p->n_sample_type ? (int)n : -1;
	const char *no_inuse = strncmp(name, "inuse_", 6) == 0 ? name + 6 : name;
	for (size_t i = 0; i < p->n_sample_type; i++)
		if (strcmp(p->sample_type[i].type, name) == 0 ||
		    strcmp(p->sample_type[i].type, no_inuse) == 0)
			return (int)i;
	return -1;
}
