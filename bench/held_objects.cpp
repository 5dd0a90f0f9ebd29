/* The input of bench/types_leaks.sh: a C++ heap of N million allocations (default 4) held in
 * the ways the type and reference passes read: objects with a vtable in a vector, a
 * std::map, a std::list, long std::strings, and one in a hundred objects leaked. Written for
 * heapmortem (no outside code). Aborts for its core when built.
 */
#include <cstdlib>
#include <list>
#include <map>
#include <string>
#include <vector>

struct Shape {
    virtual ~Shape() {}
    virtual double area() const { return w * h; }
    double w = 1, h = 2;
};

std::vector<Shape *> g_shapes;
std::map<long, long> g_index;
std::list<long> g_queue;
std::vector<std::string> g_names;

int main(int argc, char **argv)
{
    long millions = argc > 1 ? atol(argv[1]) : 4;
    long n = millions * 1000000 / 4; /* four allocations per round */
    g_shapes.reserve(n);
    g_names.reserve(n);
    for (long i = 0; i < n; i++) {
        Shape *s = new Shape;
        if (i % 100 == 0)
            s = nullptr; /* leaked */
        else
            g_shapes.push_back(s);
        g_index[i] = i;
        g_queue.push_back(i);
        g_names.emplace_back("a name long enough to live on the heap");
    }
    abort();
}
