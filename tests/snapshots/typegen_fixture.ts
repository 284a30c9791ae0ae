export type Json =
  | string
  | number
  | boolean
  | null
  | { [key: string]: Json | undefined }
  | Json[]

export type Database = {
  // Allows to automatically instantiate createClient with right options
  // instead of createClient<Database, { PostgrestVersion: 'XX' }>(URL, KEY)
  __InternalSupabase: {
    PostgrestVersion: "14.1"
  }
  public: {
    Tables: {
      order_receipts: {
        Row: {
          issued_at: string
          order_id: string
        }
        Insert: {
          issued_at?: string
          order_id: string
        }
        Update: {
          issued_at?: string
          order_id?: string
        }
        Relationships: [
          {
            foreignKeyName: "order_receipts_order_id_fkey"
            columns: ["order_id"]
            isOneToOne: true
            referencedRelation: "orders"
            referencedColumns: ["id"]
          },
        ]
      }
      orders: {
        Row: {
          buyer_id: string
          history: Database["public"]["Enums"]["order_status"][] | null
          id: string
          note: string | null
          product_id: number
          quantity: number
          stage:
            | Database["public"]["Enums"]["fulfilment_stage_of_an_order_in_the_warehouse"]
            | null
          status: Database["public"]["Enums"]["order_status"]
        }
        Insert: {
          buyer_id: string
          history?: Database["public"]["Enums"]["order_status"][] | null
          id?: string
          note?: string | null
          product_id: number
          quantity: number
          stage?:
            | Database["public"]["Enums"]["fulfilment_stage_of_an_order_in_the_warehouse"]
            | null
          status?: Database["public"]["Enums"]["order_status"]
        }
        Update: {
          buyer_id?: string
          history?: Database["public"]["Enums"]["order_status"][] | null
          id?: string
          note?: string | null
          product_id?: number
          quantity?: number
          stage?:
            | Database["public"]["Enums"]["fulfilment_stage_of_an_order_in_the_warehouse"]
            | null
          status?: Database["public"]["Enums"]["order_status"]
        }
        Relationships: [
          {
            foreignKeyName: "orders_buyer_id_fkey"
            columns: ["buyer_id"]
            isOneToOne: false
            referencedRelation: "profiles"
            referencedColumns: ["id"]
          },
          {
            foreignKeyName: "orders_product_id_fkey"
            columns: ["product_id"]
            isOneToOne: false
            referencedRelation: "product_names"
            referencedColumns: ["id"]
          },
          {
            foreignKeyName: "orders_product_id_fkey"
            columns: ["product_id"]
            isOneToOne: false
            referencedRelation: "products"
            referencedColumns: ["id"]
          },
        ]
      }
      products: {
        Row: {
          id: number
          in_stock: boolean
          launched_on: string | null
          metadata: Json
          mood: Database["public"]["Enums"]["Mood"] | null
          name: string
          opens_at: string | null
          price: number
          ratio: number | null
          scores: number[]
          seen_at: string | null
          sku: string | null
          stock: number
          tags: string[] | null
          thumbnail: string | null
          warranty: string | null
          weight: number | null
        }
        Insert: {
          id?: number
          in_stock?: boolean
          launched_on?: string | null
          metadata?: Json
          mood?: Database["public"]["Enums"]["Mood"] | null
          name: string
          opens_at?: string | null
          price?: number
          ratio?: number | null
          scores?: number[]
          seen_at?: string | null
          sku?: string | null
          stock?: number
          tags?: string[] | null
          thumbnail?: string | null
          warranty?: string | null
          weight?: number | null
        }
        Update: {
          id?: number
          in_stock?: boolean
          launched_on?: string | null
          metadata?: Json
          mood?: Database["public"]["Enums"]["Mood"] | null
          name?: string
          opens_at?: string | null
          price?: number
          ratio?: number | null
          scores?: number[]
          seen_at?: string | null
          sku?: string | null
          stock?: number
          tags?: string[] | null
          thumbnail?: string | null
          warranty?: string | null
          weight?: number | null
        }
        Relationships: []
      }
      profiles: {
        Row: {
          avatar_url: string | null
          created_at: string
          "Display Name": string | null
          id: string
          username: string
        }
        Insert: {
          avatar_url?: string | null
          created_at?: string
          "Display Name"?: string | null
          id: string
          username: string
        }
        Update: {
          avatar_url?: string | null
          created_at?: string
          "Display Name"?: string | null
          id?: string
          username?: string
        }
        Relationships: []
      }
    }
    Views: {
      order_totals: {
        Row: {
          product_id: number | null
          total: number | null
        }
        Relationships: [
          {
            foreignKeyName: "orders_product_id_fkey"
            columns: ["product_id"]
            isOneToOne: false
            referencedRelation: "product_names"
            referencedColumns: ["id"]
          },
          {
            foreignKeyName: "orders_product_id_fkey"
            columns: ["product_id"]
            isOneToOne: false
            referencedRelation: "products"
            referencedColumns: ["id"]
          },
        ]
      }
      product_names: {
        Row: {
          id: number | null
          shout: string | null
          title: string | null
        }
        Insert: {
          id?: number | null
          shout?: never
          title?: string | null
        }
        Update: {
          id?: number | null
          shout?: never
          title?: string | null
        }
        Relationships: []
      }
    }
    Functions: {
      cancel_order: {
        Args: {
          notify?: boolean
          order_id: string
          reason_for_the_cancellation_of_this_order: string
        }
        Returns: undefined
      }
      order_count: { Args: never; Returns: number }
      product_by_id: {
        Args: { product_id: number }
        Returns: {
          id: number
          in_stock: boolean
          launched_on: string | null
          metadata: Json
          mood: Database["public"]["Enums"]["Mood"] | null
          name: string
          opens_at: string | null
          price: number
          ratio: number | null
          scores: number[]
          seen_at: string | null
          sku: string | null
          stock: number
          tags: string[] | null
          thumbnail: string | null
          warranty: string | null
          weight: number | null
        }
        SetofOptions: {
          from: "*"
          to: "products"
          isOneToOne: true
          isSetofReturn: false
        }
      }
      sales_by_product: {
        Args: { since?: string }
        Returns: {
          last_status: Database["public"]["Enums"]["order_status"]
          product_id: number
          revenue: number
        }[]
      }
      search_products: {
        Args: { max_price?: number; query: string }
        Returns: {
          id: number
          in_stock: boolean
          launched_on: string | null
          metadata: Json
          mood: Database["public"]["Enums"]["Mood"] | null
          name: string
          opens_at: string | null
          price: number
          ratio: number | null
          scores: number[]
          seen_at: string | null
          sku: string | null
          stock: number
          tags: string[] | null
          thumbnail: string | null
          warranty: string | null
          weight: number | null
        }[]
        SetofOptions: {
          from: "*"
          to: "products"
          isOneToOne: false
          isSetofReturn: true
        }
      }
      tag_counts: { Args: { tags: string[] }; Returns: Json }
    }
    Enums: {
      fulfilment_stage_of_an_order_in_the_warehouse:
        | "received"
        | "picking"
        | "packing"
        | "waiting_for_courier"
        | "handed_to_courier"
        | "delivered"
      Mood: "happy" | "sad"
      order_status: "pending" | "paid" | "shipped" | "cancelled"
    }
    CompositeTypes: {
      [_ in never]: never
    }
  }
}

type DatabaseWithoutInternals = Omit<Database, "__InternalSupabase">

type DefaultSchema = DatabaseWithoutInternals[Extract<keyof Database, "public">]

export type Tables<
  DefaultSchemaTableNameOrOptions extends
    | keyof (DefaultSchema["Tables"] & DefaultSchema["Views"])
    | { schema: keyof DatabaseWithoutInternals },
  TableName extends DefaultSchemaTableNameOrOptions extends {
    schema: keyof DatabaseWithoutInternals
  }
    ? keyof (DatabaseWithoutInternals[DefaultSchemaTableNameOrOptions["schema"]]["Tables"] &
        DatabaseWithoutInternals[DefaultSchemaTableNameOrOptions["schema"]]["Views"])
    : never = never,
> = DefaultSchemaTableNameOrOptions extends {
  schema: keyof DatabaseWithoutInternals
}
  ? (DatabaseWithoutInternals[DefaultSchemaTableNameOrOptions["schema"]]["Tables"] &
      DatabaseWithoutInternals[DefaultSchemaTableNameOrOptions["schema"]]["Views"])[TableName] extends {
      Row: infer R
    }
    ? R
    : never
  : DefaultSchemaTableNameOrOptions extends keyof (DefaultSchema["Tables"] &
        DefaultSchema["Views"])
    ? (DefaultSchema["Tables"] &
        DefaultSchema["Views"])[DefaultSchemaTableNameOrOptions] extends {
        Row: infer R
      }
      ? R
      : never
    : never

export type TablesInsert<
  DefaultSchemaTableNameOrOptions extends
    | keyof DefaultSchema["Tables"]
    | { schema: keyof DatabaseWithoutInternals },
  TableName extends DefaultSchemaTableNameOrOptions extends {
    schema: keyof DatabaseWithoutInternals
  }
    ? keyof DatabaseWithoutInternals[DefaultSchemaTableNameOrOptions["schema"]]["Tables"]
    : never = never,
> = DefaultSchemaTableNameOrOptions extends {
  schema: keyof DatabaseWithoutInternals
}
  ? DatabaseWithoutInternals[DefaultSchemaTableNameOrOptions["schema"]]["Tables"][TableName] extends {
      Insert: infer I
    }
    ? I
    : never
  : DefaultSchemaTableNameOrOptions extends keyof DefaultSchema["Tables"]
    ? DefaultSchema["Tables"][DefaultSchemaTableNameOrOptions] extends {
        Insert: infer I
      }
      ? I
      : never
    : never

export type TablesUpdate<
  DefaultSchemaTableNameOrOptions extends
    | keyof DefaultSchema["Tables"]
    | { schema: keyof DatabaseWithoutInternals },
  TableName extends DefaultSchemaTableNameOrOptions extends {
    schema: keyof DatabaseWithoutInternals
  }
    ? keyof DatabaseWithoutInternals[DefaultSchemaTableNameOrOptions["schema"]]["Tables"]
    : never = never,
> = DefaultSchemaTableNameOrOptions extends {
  schema: keyof DatabaseWithoutInternals
}
  ? DatabaseWithoutInternals[DefaultSchemaTableNameOrOptions["schema"]]["Tables"][TableName] extends {
      Update: infer U
    }
    ? U
    : never
  : DefaultSchemaTableNameOrOptions extends keyof DefaultSchema["Tables"]
    ? DefaultSchema["Tables"][DefaultSchemaTableNameOrOptions] extends {
        Update: infer U
      }
      ? U
      : never
    : never

export type Enums<
  DefaultSchemaEnumNameOrOptions extends
    | keyof DefaultSchema["Enums"]
    | { schema: keyof DatabaseWithoutInternals },
  EnumName extends DefaultSchemaEnumNameOrOptions extends {
    schema: keyof DatabaseWithoutInternals
  }
    ? keyof DatabaseWithoutInternals[DefaultSchemaEnumNameOrOptions["schema"]]["Enums"]
    : never = never,
> = DefaultSchemaEnumNameOrOptions extends {
  schema: keyof DatabaseWithoutInternals
}
  ? DatabaseWithoutInternals[DefaultSchemaEnumNameOrOptions["schema"]]["Enums"][EnumName]
  : DefaultSchemaEnumNameOrOptions extends keyof DefaultSchema["Enums"]
    ? DefaultSchema["Enums"][DefaultSchemaEnumNameOrOptions]
    : never

export type CompositeTypes<
  PublicCompositeTypeNameOrOptions extends
    | keyof DefaultSchema["CompositeTypes"]
    | { schema: keyof DatabaseWithoutInternals },
  CompositeTypeName extends PublicCompositeTypeNameOrOptions extends {
    schema: keyof DatabaseWithoutInternals
  }
    ? keyof DatabaseWithoutInternals[PublicCompositeTypeNameOrOptions["schema"]]["CompositeTypes"]
    : never = never,
> = PublicCompositeTypeNameOrOptions extends {
  schema: keyof DatabaseWithoutInternals
}
  ? DatabaseWithoutInternals[PublicCompositeTypeNameOrOptions["schema"]]["CompositeTypes"][CompositeTypeName]
  : PublicCompositeTypeNameOrOptions extends keyof DefaultSchema["CompositeTypes"]
    ? DefaultSchema["CompositeTypes"][PublicCompositeTypeNameOrOptions]
    : never

export const Constants = {
  public: {
    Enums: {
      fulfilment_stage_of_an_order_in_the_warehouse: [
        "received",
        "picking",
        "packing",
        "waiting_for_courier",
        "handed_to_courier",
        "delivered",
      ],
      Mood: ["happy", "sad"],
      order_status: ["pending", "paid", "shipped", "cancelled"],
    },
  },
} as const
