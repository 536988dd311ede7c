// cxxwork.cpp - a C++ allocation workload: maps of strings to vectors,
// rebuilt ROUNDS times (default 40), with a live working set.
#include <cstdio>
#include <cstdlib>
#include <map>
#include <string>
#include <vector>

int main(int argc, char **argv)
{
	int rounds = argc > 1 ? std::atoi(argv[1]) : 40;
	unsigned long sum = 0;
	std::vector<std::map<std::string, std::vector<int>>> keep;
	for (int r = 0; r < rounds; r++) {
		std::map<std::string, std::vector<int>> m;
		for (int i = 0; i < 20000; i++) {
			std::string key = "key-" + std::to_string(i * 7919 % 100003) + "-" + std::to_string(r);
			std::vector<int> &v = m[key];
			for (int j = 0; j < i % 17; j++)
				v.push_back(j);
			sum += v.size();
		}
		if (r % 8 == 0)
			keep.push_back(std::move(m));
	}
	std::printf("%lu %zu\n", sum, keep.size());
	return 0;
}
