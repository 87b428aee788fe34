env A
