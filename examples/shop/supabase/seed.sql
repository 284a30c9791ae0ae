insert into public.products (name, price, tags) values
  ('Pen', 1.5, '{office}'),
  ('Notebook', 4, '{office,paper}');
