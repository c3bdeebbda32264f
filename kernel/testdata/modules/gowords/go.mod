module example.org/go-words

go 1.22
